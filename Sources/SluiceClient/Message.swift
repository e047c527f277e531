import Foundation

/// A message to send. Its type follows from what is set, as in the official clients:
/// a `messageGroup` makes it FIFO, a `deliveryTime` makes it DELAY, neither makes it NORMAL;
/// `TransactionProducer.sendTransactional` makes it TRANSACTION (and refuses group or delivery time).
public struct Message: Sendable {
    public var topic: String
    public var body: [UInt8]
    /// One tag for server-side filtering (`a || b` expressions on the consumer side); no `|`.
    public var tag: String?
    /// Keys for looking the message up (`sluice message show`, traces).
    public var keys: [String]
    /// User properties; names reserved by the protocol are refused by the broker.
    public var properties: [String: String]
    /// FIFO: messages of one group are stored in one queue and consumed in order.
    public var messageGroup: String?
    /// DELAY: the message becomes visible to consumers at this time (at most 40 days ahead).
    public var deliveryTime: Date?

    public init(
        topic: String, body: [UInt8], tag: String? = nil, keys: [String] = [], properties: [String: String] = [:],
        messageGroup: String? = nil, deliveryTime: Date? = nil
    ) {
        self.topic = topic
        self.body = body
        self.tag = tag
        self.keys = keys
        self.properties = properties
        self.messageGroup = messageGroup
        self.deliveryTime = deliveryTime
    }

    public init(
        topic: String, text: String, tag: String? = nil, keys: [String] = [], properties: [String: String] = [:],
        messageGroup: String? = nil, deliveryTime: Date? = nil
    ) {
        self.init(
            topic: topic, body: Array(text.utf8), tag: tag, keys: keys, properties: properties,
            messageGroup: messageGroup, deliveryTime: deliveryTime)
    }
}

/// What the broker answered to a send.
public struct SendReceipt: Sendable, Hashable {
    public let topic: String
    public let messageID: String
    /// Non-empty for transactional messages only.
    public let transactionID: String
    /// The message's offset in its queue, as the broker reported it.
    public let offset: Int64
}

/// A message delivered to a consumer (or shown to a transaction checker).
public struct ReceivedMessage: Sendable {
    public let topic: String
    public let messageID: String
    public let body: [UInt8]
    public let tag: String?
    public let keys: [String]
    public let properties: [String: String]
    public let messageGroup: String?
    public let bornTime: Date?
    public let deliveryTime: Date?
    /// 1 on first delivery, then 2, 3 … as the broker redelivers it.
    public let deliveryAttempt: Int
    /// The handle that acks or changes the invisible time of this delivery (empty for check-backs).
    public let receiptHandle: String

    /// The body as UTF-8 text (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }
}
