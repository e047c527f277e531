/// The result of `TransactionStateStore.recordPrepared(_:)`.
public enum RecordPreparedResult: Sendable, Hashable {
    /// A new prepared transaction was recorded.
    case inserted(transactionId: String)
    /// The same client already sent this message to this topic: a retried half-send. Nothing was
    /// written; the existing transaction id is returned and the caller must not append again.
    case duplicate(existingTransactionId: String)

    /// The id the producer should use from now on.
    public var transactionId: String {
        switch self {
        case .inserted(let id), .duplicate(let id): id
        }
    }
}
