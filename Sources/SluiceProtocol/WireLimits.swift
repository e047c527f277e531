import SluiceBroker
import SluiceWire

/// The fixed limits on what one request may carry, with the reason for each. A value over a
/// limit is refused with the matching RocketMQ code and a message naming the field, the value and
/// the limit (`docs/protocol.md`, "Validation").
///
/// Where Apache RocketMQ's proxy has a default, Sluice uses it (`ProxyConfig`, `TopicValidator`).
enum WireLimits {
    /// `TopicValidator.TOPIC_MAX_LENGTH`; dead-letter topics `%DLQ%<group>` may be longer.
    static let topicBytes = TopicName.maximumLength
    static let deadLetterTopicBytes = ConsumerGroup.deadLetterPrefix.utf8.count + groupBytes
    /// RocketMQ's `CHARACTER_MAX_LENGTH` for group names.
    static let groupBytes = 255
    /// A tag is indexed by hash; RocketMQ's proxy caps it at 255 bytes too.
    static let tagBytes = 255
    /// Keys are indexed one entry each; 64 is the store's own limit.
    static let keyCount = 64
    static let keyBytes = 255
    /// Client-made message ids are 34 hex characters (the Python and Java clients); room to spare.
    static let messageIdBytes = 128
    /// `ProxyConfig.maxMessageGroupSize`.
    static let messageGroupBytes = 64
    /// `ProxyConfig.userPropertyMaxNum` and `maxUserPropertySize`: count and total bytes of names
    /// plus values.
    static let propertyCount = 128
    static let propertyTotalBytes = 16 * 1024
    static let propertyNameBytes = 255
    static let bornHostBytes = 255
    /// A tag expression (`a || b || ...`).
    static let filterExpressionBytes = 4096
    /// Sluice's handles are 39 characters; anything much longer was not issued here.
    static let receiptHandleBytes = 512
    /// Sluice's transaction ids are 32 characters.
    static let transactionIdBytes = 128
    /// The `x-mq-client-id` header: keys the session map.
    static let clientIdBytes = 256
    /// Entries of one AckMessage (a receive hands out at most `maxBatchSize`).
    static let ackEntries = 1024
    /// Topics a producer's settings may declare (each is remembered for check-backs).
    static let settingsTopics = 1024
    /// Endpoints echoed back in routes.
    static let endpointAddresses = 16
    static let hostBytes = 255
    /// Topics remembered per client for check-back routing (`ClientSessions.noteSent`).
    static let sentTopicsPerClient = 1024
    /// Replies and check-backs queued for one Telemetry stream that is not being read: beyond
    /// this the broker drops them (a check is retried later) instead of growing its memory.
    static let telemetryOutboundCommands = 64
    /// The furthest ahead a producer may schedule its first transaction check-back.
    static let orphanedRecoveryMs: Int64 = 24 * 3600 * 1000
}
