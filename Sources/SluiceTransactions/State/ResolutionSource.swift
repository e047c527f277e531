/// Who resolved a transaction. Raw values are the `transactions.resolution_source` column.
public enum ResolutionSource: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The producer's EndTransaction (RocketMQ `TransactionSource.SOURCE_CLIENT`).
    case producer
    /// The producer's answer to a check (RocketMQ `TransactionSource.SOURCE_SERVER_CHECK`).
    case check
    /// An operator, through the admin API or CLI.
    case `operator`
    /// The broker's exhausted-check-budget policy.
    case policy

    public var description: String { rawValue }
}
