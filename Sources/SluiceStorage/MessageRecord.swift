import NIOCore

/// A message as a caller hands it to the commit log. The store assigns the physical offset, the
/// queue offset and the store time; it keeps everything else byte for byte.
public struct MessageRecord: Sendable {
    public var topic: String
    public var queueId: UInt32
    /// The message id clients see (RocketMQ's `message_id`). Empty: the store generates one.
    public var messageId: String
    /// RocketMQ 5 messages carry at most one tag.
    public var tags: String
    public var keys: [String]
    /// User and system properties, kept in the order given.
    public var properties: [(String, String)]
    public var body: ByteBuffer
    public var bornTimestampMs: Int64
    /// The RocketMQ message type or a higher layer's record kind; the store only keeps it.
    public var messageType: UInt8
    /// Free bits for higher layers (for example "half message"); the store only keeps them.
    /// Bit 15 (`0x8000`) is the store's own: set when the record has a secondary queue.
    public var flags: UInt16
    /// A second queue whose index also gets an entry for this record (for example the transaction
    /// event queue for a commit that lands in its target topic). Gets its own queue offset.
    public var secondaryQueue: QueueID?

    public init(
        topic: String,
        queueId: UInt32,
        messageId: String = "",
        tags: String = "",
        keys: [String] = [],
        properties: [(String, String)] = [],
        body: ByteBuffer,
        bornTimestampMs: Int64,
        messageType: UInt8 = 0,
        flags: UInt16 = 0,
        secondaryQueue: QueueID? = nil
    ) {
        self.topic = topic
        self.queueId = queueId
        self.messageId = messageId
        self.tags = tags
        self.keys = keys
        self.properties = properties
        self.body = body
        self.bornTimestampMs = bornTimestampMs
        self.messageType = messageType
        self.flags = flags & ~RecordFormat.secondaryQueueFlag
        self.secondaryQueue = secondaryQueue
    }
}

/// A record read back from the commit log, with the positions the store assigned.
public struct StoredRecord: Sendable {
    public var message: MessageRecord
    public var physicalOffset: UInt64
    public var queueOffset: UInt64
    public var storeTimestampMs: Int64
    /// Bytes the record occupies in the log, header included.
    public var size: Int
    /// The record's offset in `message.secondaryQueue`, when it has one.
    public var secondaryQueueOffset: UInt64?

    public var topic: String { message.topic }
    public var queueId: UInt32 { message.queueId }
    public var messageId: String { message.messageId }
    public var body: ByteBuffer { message.body }
}

/// What an append returns once the record is as durable as the flush policy promises.
public struct AppendResult: Sendable, Hashable {
    public var physicalOffset: UInt64
    public var queueOffset: UInt64
    public var messageId: String
    public var storeTimestampMs: Int64
    public var size: Int
    /// The record's offset in its secondary queue, when it has one.
    public var secondaryQueueOffset: UInt64?
}
