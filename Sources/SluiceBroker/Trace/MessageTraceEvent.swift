/// One thing that happened to a message, as the broker recorded it: received from a producer,
/// stored as a half message, committed, delivered to a consumer group, acknowledged, ...
///
/// Events are kept in the commit log (see `MessageTraceRecord`), so they last as long as the log's
/// retention keeps the segment they landed in.
public struct MessageTraceEvent: Sendable, Hashable {
    /// What happened. An open set: a reader keeps kinds it does not know (written by a newer
    /// broker) under their raw name.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The broker stored the message from a producer (read back from the message itself).
        public static let received = Kind(rawValue: "received")
        /// A transactional message was stored as a half message, invisible until committed.
        public static let halfStored = Kind(rawValue: "half-stored")
        /// The transaction was committed: the message is in its topic for consumers.
        public static let committed = Kind(rawValue: "committed")
        /// The transaction was rolled back: the message will never be delivered.
        public static let rolledBack = Kind(rawValue: "rolled-back")
        /// A consumer group received the message (one attempt; an attempt above 1 is a retry).
        public static let delivered = Kind(rawValue: "delivered")
        /// A consumer acknowledged the message.
        public static let acked = Kind(rawValue: "acked")
        /// A consumer changed how long the message stays invisible to its group.
        public static let invisibilityChanged = Kind(rawValue: "invisibility-changed")
        /// The delivery attempts are spent: the message moved to the group's dead-letter topic.
        public static let deadLettered = Kind(rawValue: "dead-lettered")
        /// The producer recalled the DELAY message before its delivery time: no group gets it.
        public static let recalled = Kind(rawValue: "recalled")

        public var description: String { rawValue }
    }

    /// Names of the details events carry (a detail is only present when it applies).
    public enum Detail {
        public static let topic = "topic"
        public static let queueId = "queueId"
        public static let queueOffset = "queueOffset"
        /// The message type: normal, fifo, delay, transaction or priority.
        public static let type = "type"
        /// The client instance (`x-mq-client-id`) that sent, resolved or received the message.
        public static let clientId = "clientId"
        /// The producer's host, as its client reported it.
        public static let bornHost = "bornHost"
        public static let transactionId = "transactionId"
        /// Who resolved a transaction: producer, check, operator or policy.
        public static let source = "source"
        /// The operator's name (or the client id, or `policy`) behind a resolution.
        public static let actor = "actor"
        public static let reason = "reason"
        /// The consumer group.
        public static let group = "group"
        /// The delivery attempt, 1 for the first.
        public static let attempt = "attempt"
        /// When the message becomes visible again, ms since the epoch.
        public static let invisibleUntilMs = "invisibleUntilMs"
        public static let deadLetterTopic = "dlqTopic"
    }

    public var kind: Kind
    /// The traced message's id (RocketMQ's `message_id`).
    public var messageId: String
    /// When the broker recorded the event, ms since the epoch. Never decreases within one broker
    /// process, so together with `sequence` it orders the events of a message.
    public var atMs: Int64
    /// The recording order within one broker process.
    public var sequence: UInt64
    /// What applies to this kind of event, named by `Detail`.
    public var details: [String: String]

    public init(kind: Kind, messageId: String, atMs: Int64, sequence: UInt64, details: [String: String] = [:]) {
        self.kind = kind
        self.messageId = messageId
        self.atMs = atMs
        self.sequence = sequence
        self.details = details
    }
}
