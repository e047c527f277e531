import NIOCore
import SluiceStorage

/// A transactional message as a producer sends it: kept invisible until committed.
public struct HalfMessage: Sendable {
    /// The message as it will reach consumers once committed (topic and queue are the target).
    public var message: MessageRecord
    public var producerGroup: String
    /// The client instance that sent it; checks are routed back to it.
    public var clientId: String
    /// The producer's own delay before the first check (RocketMQ's recovery duration); nil uses
    /// the broker's transaction timeout.
    public var firstCheckDelayMs: Int64?

    public init(message: MessageRecord, producerGroup: String, clientId: String, firstCheckDelayMs: Int64? = nil) {
        self.message = message
        self.producerGroup = producerGroup
        self.clientId = clientId
        self.firstCheckDelayMs = firstCheckDelayMs
    }
}

/// What a producer gets back for a stored half message.
public struct PreparedHalf: Sendable, Hashable {
    public var transactionId: String
    public var messageId: String
    /// Where the half message is in the commit log.
    public var commitLogOffset: UInt64
    /// False when the same (client, topic, message id) had been prepared before: the earlier
    /// transaction is returned.
    public var isNew: Bool
}

/// How an end-transaction request went.
public enum EndOutcome: Sendable, Hashable {
    /// The resolution was applied now (for a commit: the message is in its target queue).
    case applied
    /// The same resolution had been applied before: nothing new happened.
    case alreadyResolved
}
