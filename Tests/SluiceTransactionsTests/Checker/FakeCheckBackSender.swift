import SluiceTransactions
import Synchronization

/// Records every check it is asked to send; can fail sends to chosen clients and run a hook
/// (answer the check, wait on a gate) before returning.
final class FakeCheckBackSender: CheckBackSender {
    struct Call: Sendable, Hashable {
        var check: TransactionCheck
        var clientId: String
    }

    typealias Hook = @Sendable (TransactionCheck, String) async -> Void

    private struct State {
        var calls: [Call] = []
        var unreachable: Set<String> = []
        var resolving: Set<String> = []
        var hook: Hook?
    }

    private let state = Mutex(State())
    /// Each call, as it starts.
    let events: AsyncStream<Call>
    private let eventSink: AsyncStream<Call>.Continuation

    init() {
        (events, eventSink) = AsyncStream.makeStream(of: Call.self)
    }

    func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
        let call = Call(check: check, clientId: clientId)
        let (hook, reachable) = state.withLock { state in
            state.calls.append(call)
            return (state.hook, !state.unreachable.contains(clientId))
        }
        eventSink.yield(call)
        await hook?(check, clientId)
        return reachable
    }

    func isBeingResolved(_ transactionId: String) -> Bool {
        state.withLock { $0.resolving.contains(transactionId) }
    }

    /// Says a resolution of `transactionId` is under way (or no longer is).
    func setResolving(_ transactionId: String, _ resolving: Bool) {
        state.withLock { state in
            if resolving { state.resolving.insert(transactionId) } else { state.resolving.remove(transactionId) }
        }
    }

    var calls: [Call] {
        state.withLock { $0.calls }
    }

    var transactionIds: [String] {
        calls.map(\.check.transactionId)
    }

    /// Runs `hook` in every later send, before it returns.
    func setHook(_ hook: Hook?) {
        state.withLock { $0.hook = hook }
    }

    /// Makes sends to `clientId` fail (or succeed again).
    func setUnreachable(_ clientId: String, _ unreachable: Bool = true) {
        state.withLock { state in
            if unreachable {
                state.unreachable.insert(clientId)
            } else {
                state.unreachable.remove(clientId)
            }
        }
    }
}
