/// Broker-owned properties kept in stored records for fields RocketMQ carries in system
/// properties (the `SLUICE_` prefix keeps them out of what clients see as user properties).
public enum MessageProperty {
    /// The FIFO message group.
    public static let messageGroup = "SLUICE_MESSAGE_GROUP"
    /// A DELAY message's delivery time, milliseconds since the epoch.
    public static let deliveryTimestampMs = "SLUICE_DELIVERY_MS"
    /// A PRIORITY message's priority, 0 to `MessageProperty.priorityRange.upperBound`.
    public static let priority = "SLUICE_PRIORITY"
    /// The priorities a PRIORITY message may carry (higher is served first).
    public static let priorityRange: ClosedRange<Int32> = 0...9
    /// A LITE message's lite topic (1 to `liteTopicMaxLength` characters of `[%a-zA-Z0-9_-]`).
    public static let liteTopic = "SLUICE_LITE_TOPIC"
    /// The longest lite topic name, in characters (advertised to lite consumers as
    /// `max_lite_topic_size`; RocketMQ 5.4's default is 64 as well).
    public static let liteTopicMaxLength = 64
    /// The producer's host, as it reported it.
    public static let bornHost = "SLUICE_BORN_HOST"
    /// On a dead-letter copy: where the message was (`topic#queue@offset`) and for which group.
    public static let deadLetterOrigin = "SLUICE_DLQ_ORIGIN"
    /// On a dead-letter copy: the topic the message was sent to.
    public static let originalTopic = "SLUICE_ORIGINAL_TOPIC"
    /// On a dead-letter copy: how often it had been delivered.
    public static let deliveryAttempts = "SLUICE_DELIVERY_ATTEMPTS"
}
