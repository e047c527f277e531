/// Delivers checks to producer instances. Protocol-neutral: SluiceProtocol implements it over
/// RocketMQ 5's Telemetry stream; tests use a fake.
///
/// The producer's answer does not come back through this protocol. A COMMIT or ROLLBACK answer
/// goes through the broker's `TransactionCoordinator.end(…, source: .check, …)` — never straight
/// to `TransactionStateStore.resolve`, which would mark a commit without appending the message —
/// and so through the same state machine as the producer's own EndTransaction; an UNKNOWN answer with `recordCheckOutcome(…, .unknown,
/// …)`, rescheduled with `TransactionCheckerConfiguration.checkInterval(afterAttempt:)`.
public protocol CheckBackSender: Sendable {
    /// Sends `check` to the client instance `clientId`.
    ///
    /// - Returns: true when the check was handed to the client's stream; false when that client
    ///   could not be reached now (stream gone, not writable). False must mean "not delivered":
    ///   the checker then withdraws the attempt and gives its unit of check budget back.
    func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool

    /// Whether a resolution of `transactionId` (the producer's end, an answered check, an
    /// operator) is under way right now: its record may already be in the log while the table
    /// still says prepared. The checker then does not check it.
    func isBeingResolved(_ transactionId: String) -> Bool
}

extension CheckBackSender {
    public func isBeingResolved(_ transactionId: String) -> Bool { false }
}
