import Dispatch
import SluiceTransactions

/// Holds the executor thread inside a write so that the test can queue work behind it, then
/// releases it: the queued writes then form one batch. No sleeps: the test learns that the
/// thread is held through an async stream, and that work is queued from `queuedJobCount`.
struct ExecutorGate: Sendable {
    private let gate = DispatchSemaphore(value: 0)
    private let held: AsyncStream<Void>
    private let heldContinuation: AsyncStream<Void>.Continuation

    init() {
        (held, heldContinuation) = AsyncStream<Void>.makeStream()
    }

    /// Queues a write that blocks the executor thread, and returns once it is blocking.
    /// The returned task finishes after `release()`.
    func hold(_ executor: SQLiteExecutor) async -> Task<Void, any Error> {
        let gate = gate
        let heldContinuation = heldContinuation
        let task = Task {
            try await executor.write { _ in
                heldContinuation.yield()
                gate.wait()
            }
        }
        for await _ in held { break }
        return task
    }

    /// Lets the executor thread go.
    func release() {
        gate.signal()
    }
}

/// Yields until `count` jobs wait in the executor's queue (they were submitted by other tasks).
func waitUntilQueued(_ executor: SQLiteExecutor, count: Int) async {
    while executor.queuedJobCount < count {
        await Task.yield()
    }
}
