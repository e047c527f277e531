import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import SluiceFront

@Suite("A call's task stays on its connection's event loop")
struct ConnectionTaskExecutorTests {
    /// The point of the executor: a task resumed from a thread outside the loop group (as the log
    /// writer resumes an append) continues on the connection's loop, not on whichever loop the
    /// global executor picks.
    @Test("resumed from a foreign thread, the task continues on the connection's loop")
    func resumesOnItsLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        for loop in group.makeIterator() {
            let executor = ConnectionTaskExecutor(eventLoop: loop)
            let onLoop = await Task(executorPreference: executor) { () async -> [Bool] in
                var seen = [loop.inEventLoop]
                for _ in 0..<20 {
                    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                        Thread.detachNewThread { continuation.resume() }
                    }
                    seen.append(loop.inEventLoop)
                }
                return seen
            }.value
            #expect(onLoop == Array(repeating: true, count: 21))
        }
        try await group.shutdownGracefully()
    }
}
