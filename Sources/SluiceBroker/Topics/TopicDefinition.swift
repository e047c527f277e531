/// A topic as the broker serves it: its name, the one message type it accepts and how many
/// message queues (numbered 0 ..< queueCount) it spreads messages over.
public struct TopicDefinition: Sendable, Codable, Hashable {
    public var name: String
    public var messageType: TopicMessageType
    public var queueCount: Int
    /// When the topic was created, in milliseconds since the Unix epoch.
    public var createdAtMs: Int64

    /// Queues a topic gets when the creator does not say (RocketMQ's default too).
    public static let defaultQueueCount = 8
    /// The fewest and most queues a topic may have.
    public static let queueCountRange = 1...256

    public init(name: String, messageType: TopicMessageType, queueCount: Int, createdAtMs: Int64) {
        self.name = name
        self.messageType = messageType
        self.queueCount = queueCount
        self.createdAtMs = createdAtMs
    }

    /// Checks a requested queue count.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` naming the limits.
    public static func validateQueueCount(_ queueCount: Int) throws(BrokerError) {
        guard queueCountRange.contains(queueCount) else {
            throw BrokerError(
                .invalidArgument,
                "queues: a topic has \(queueCountRange.lowerBound) to \(queueCountRange.upperBound) queues; "
                    + "got \(queueCount)")
        }
    }
}
