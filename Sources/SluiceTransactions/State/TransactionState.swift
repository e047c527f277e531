/// Where a transactional (half) message stands. Raw values are the `transactions.state` column.
public enum TransactionState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Waiting for the producer's decision; checked when overdue.
    case prepared
    /// Final: the message is delivered to consumers.
    case committed
    /// Final: the message is discarded.
    case rolledBack = "rolled_back"
    /// The check budget is spent: no more checks. A producer or operator may still resolve it.
    case parked

    /// Whether no further resolution can change the state.
    public var isFinal: Bool {
        self == .committed || self == .rolledBack
    }

    /// Not final: prepared or parked.
    public var isPending: Bool {
        !isFinal
    }

    public var description: String { rawValue }
}
