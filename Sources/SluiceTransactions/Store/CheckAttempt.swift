/// One check sent for a transaction (a `transaction_checks` row).
public struct CheckAttempt: Sendable, Hashable {
    public var transactionId: String
    /// 1 for the first check.
    public var attempt: Int
    public var sentAtMs: Int64
    /// The client asked; nil when none was connected.
    public var clientId: String?
    /// nil while the check is in flight.
    public var outcome: CheckOutcome?
    public var answeredAtMs: Int64?

    public init(
        transactionId: String, attempt: Int, sentAtMs: Int64, clientId: String?, outcome: CheckOutcome?,
        answeredAtMs: Int64?
    ) {
        self.transactionId = transactionId
        self.attempt = attempt
        self.sentAtMs = sentAtMs
        self.clientId = clientId
        self.outcome = outcome
        self.answeredAtMs = answeredAtMs
    }
}
