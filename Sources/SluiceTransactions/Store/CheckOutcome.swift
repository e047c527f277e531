/// How a check ended. Raw values are the `transaction_checks.outcome` column.
public enum CheckOutcome: String, Sendable, Hashable, CaseIterable {
    /// The producer answered COMMIT (recorded when the coordinator resolves with source `.check`).
    case commit
    /// The producer answered ROLLBACK (recorded when the coordinator resolves with source `.check`).
    case rollback
    /// The producer answered UNKNOWN: ask again later.
    case unknown
    /// No answer before the deadline.
    case noAnswer = "no_answer"
    /// No client of the producer was connected to ask.
    case noClient = "no_client"
}
