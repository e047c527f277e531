import Synchronization

/// Whether the broker can serve: written by `StoreService`, read by the admin API's `/readyz`
/// (from any thread, any time).
public final class Readiness: Sendable {
    public enum State: Sendable, Hashable {
        /// The commit log is being opened and recovered; nothing can be served yet.
        case recovering
        /// Recovery is done and the store serves; what recovery found.
        case ready(RecoveryFacts)
        /// The store could not be opened; the broker is about to exit.
        case failed(reason: String)
        /// Graceful shutdown has begun; the store no longer takes new work.
        case stopping
    }

    private let current = Mutex(State.recovering)

    public init() {}

    public var state: State { current.withLock { $0 } }

    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    func markReady(_ facts: RecoveryFacts) { current.withLock { $0 = .ready(facts) } }
    func markFailed(_ reason: String) { current.withLock { $0 = .failed(reason: reason) } }
    func markStopping() { current.withLock { $0 = .stopping } }
}
