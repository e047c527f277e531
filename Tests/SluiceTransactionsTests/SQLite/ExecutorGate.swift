import Dispatch
import SluiceTransactions

/// Holds the executor thread inside a write so that the test can queue work behind it, then
/// releases it: the queued writes then form one batch. No sleeps: the test learns that the
/// thread is held through an async stream, and that work is queued from `queuedJobCount`.
struct ExecutorGate: Sendable {
    private let release = DispatchSemaphore(value: 0)
    private let held: AsyncStream<Void>
    private let heldContinuation: AsyncStream<Void>.Continuation

    init() {
        (held, heldContinuation) = AsyncStream<Void>.makeStream()
    }

    /// Queues a write that blocks the executor thread, and returns once it is blocking.
    /// The returned task finishes after `open()`.
    func close(_ executor: SQLiteExecutor) async -> Task<Void, any Error> {
        let release = release
        let heldContinuation = heldContinuation
        let task = Task {
            try await executor.write { _ in
                heldContinuation.yield()
                release.wait()
            }
        }
        for await _ in held { break }
        return task
    }

    /// Lets the executor thread go.
    func open() {
        release.signal()
    }
}

/// Yields until `count` jobs wait in the executor's queue (they were submitted by other tasks).
func waitUntilQueued(_ executor: SQLiteExecutor, count: Int) async {
    while executor.queuedJobCount < count {
        await Task.yield()
    }
}
