/// The decision asked for by EndTransaction, a check answer, an operator or a policy.
public enum TransactionResolution: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case commit
    case rollback

    /// The state the transaction ends in.
    public var resultingState: TransactionState {
        switch self {
        case .commit: .committed
        case .rollback: .rolledBack
        }
    }

    public var description: String { rawValue }
}
