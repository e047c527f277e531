/// One check-back request: "what became of this transaction?", sent to a producer instance.
///
/// RocketMQ 5 carries it as a `RecoverOrphanedTransactionCommand` on the Telemetry stream; the
/// gRPC layer reads the half message from the commit log at `commitLogOffset` to fill it in.
public struct TransactionCheck: Sendable, Hashable {
    public var transactionId: String
    public var messageId: String
    public var topic: String
    /// '' when the producer sent none (RocketMQ 5's wire has no group on sends).
    public var producerGroup: String
    /// Where the half message is in the commit log.
    public var commitLogOffset: Int64
    public var commitLogSize: Int64
    /// 1 for the first check; the number the answer must name (`recordCheckOutcome(attempt:)`).
    public var attempt: Int

    public init(
        transactionId: String, messageId: String, topic: String, producerGroup: String, commitLogOffset: Int64,
        commitLogSize: Int64, attempt: Int
    ) {
        self.transactionId = transactionId
        self.messageId = messageId
        self.topic = topic
        self.producerGroup = producerGroup
        self.commitLogOffset = commitLogOffset
        self.commitLogSize = commitLogSize
        self.attempt = attempt
    }

    /// The check for attempt `attempt` of `record`.
    public init(_ record: TransactionRecord, attempt: Int) {
        self.init(
            transactionId: record.transactionId, messageId: record.messageId, topic: record.topic,
            producerGroup: record.producerGroup, commitLogOffset: record.commitLogOffset,
            commitLogSize: record.commitLogSize, attempt: attempt)
    }
}
