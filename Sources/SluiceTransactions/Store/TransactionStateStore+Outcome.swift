extension TransactionStateStore {
    /// What a resolution write found; turned into a result or an error once it has committed.
    enum Outcome: Sendable {
        case applied(from: TransactionState, to: TransactionState)
        case alreadyResolved(TransactionState)
        case refused(reason: String)
        case unknown

        var detail: String {
            switch self {
            case .applied(let from, let to): "\(from) -> \(to)"
            case .alreadyResolved(let state): "already \(state)"
            case .refused(let reason): "refused: \(reason)"
            case .unknown: "unknown transaction"
            }
        }

        func result(transactionId: String) throws(TransactionStoreError) -> ResolveResult {
            switch self {
            case .applied(let from, let to):
                return .applied(from: from, to: to)
            case .alreadyResolved(let state):
                return .alreadyResolved(state)
            case .refused(let reason):
                throw TransactionStoreError(code: .conflictingResolution, message: reason, transactionId: transactionId)
            case .unknown:
                throw TransactionStoreError(
                    code: .unknownTransaction, message: "no transaction with id \(transactionId)",
                    transactionId: transactionId)
            }
        }
    }
}
