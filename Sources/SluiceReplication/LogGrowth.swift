import Logging
import NIOCore
import NIOPosix
import SluiceStorage
import Synchronization

/// Wakes fetches that wait at the leader's end when the log grows (a long poll, so a caught-up
/// follower learns of a record within one group commit instead of one polling interval).
final class LogGrowth: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, Never>
        var timer: Scheduled<Void>?
    }
    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Called by the log's append listener on the writer thread: cheap, no I/O.
    func notify() {
        let waiters = state.withLock { state -> [Waiter] in
            guard !state.waiters.isEmpty else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }

    /// Returns once `log` ends past `offset`, after `timeout`, or once `closed` completes (the
    /// asking connection closed: nobody is left to answer, and its place on the port is freed).
    func wait(beyond offset: UInt64, of log: CommitLog, timeout: Duration, orUntil closed: EventLoopFuture<Void>? = nil) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let registered = state.withLock { state -> UInt64? in
                // Checked under the lock after registering would race with `notify`; checking
                // inside the lock before registering is enough because `notify` takes it too.
                if log.replicableEnd > offset { return nil }
                let id = state.nextID
                state.nextID += 1
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
                    [weak self] in _ = self?.expire(id)
                }
                state.waiters[id] = Waiter(continuation: continuation, timer: timer)
                return id
            }
            guard let id = registered else {
                continuation.resume()
                return
            }
            closed?.whenComplete { [weak self] _ in self?.expire(id) }
        }
    }

    private func expire(_ id: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume()
    }
}
