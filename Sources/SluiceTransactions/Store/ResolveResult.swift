/// The result of a successful resolution request.
public enum ResolveResult: Sendable, Hashable {
    /// The state changed.
    case applied(from: TransactionState, to: TransactionState)
    /// Nothing changed: the transaction already had this outcome (an idempotent retry).
    case alreadyResolved(TransactionState)

    /// The state after the request.
    public var state: TransactionState {
        switch self {
        case .applied(_, let state), .alreadyResolved(let state): state
        }
    }
}
