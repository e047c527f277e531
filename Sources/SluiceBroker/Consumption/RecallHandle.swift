import Crypto

/// What a recall handle names: one stored DELAY message (RocketMQ 5.3's `recall_handle`, returned
/// by SendMessage and sent back with RecallMessage).
///
/// Encoded as base64url of a small binary payload (where the message is, its id and delivery time)
/// plus an HMAC-SHA256 tag (first 16 bytes) over the topic and the payload with the broker's own
/// key, in a domain of its own ("sluice-recall"), so a handle cannot be guessed, altered, or used
/// to recall a message of another topic.
public struct RecallHandle: Sendable, Hashable {
    public var physicalOffset: UInt64
    public var queueId: UInt32
    public var queueOffset: UInt64
    public var deliveryMs: Int64
    public var messageId: String

    static let version: UInt8 = 1
    static let fixedSize = 1 + 8 + 4 + 8 + 8 + 1
    static let tagSize = 16
    /// Longer texts are refused before decoding (a message id has at most 128 bytes).
    public static let maxTextLength = 256

    public init(physicalOffset: UInt64, queueId: UInt32, queueOffset: UInt64, deliveryMs: Int64, messageId: String) {
        self.physicalOffset = physicalOffset
        self.queueId = queueId
        self.queueOffset = queueOffset
        self.deliveryMs = deliveryMs
        self.messageId = messageId
    }

    /// The text form the producer receives.
    public func encoded(key: SymmetricKey, topic: String) -> String {
        let id = Array(messageId.utf8.prefix(255))
        var payload: [UInt8] = [Self.version]
        payload.reserveCapacity(Self.fixedSize + id.count + Self.tagSize)
        HandleSignature.append(physicalOffset.bigEndian, to: &payload)
        HandleSignature.append(queueId.bigEndian, to: &payload)
        HandleSignature.append(queueOffset.bigEndian, to: &payload)
        HandleSignature.append(UInt64(bitPattern: deliveryMs).bigEndian, to: &payload)
        payload.append(UInt8(id.count))
        payload += id
        payload += HandleSignature.tag(key: HandleSigningKey(key), context: ["sluice-recall", topic], payload: payload, size: Self.tagSize)
        return Base64URL.encode(payload)
    }

    /// Decodes and authenticates a handle for `topic`.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` saying what is wrong with it.
    public static func decode(_ text: String, key: SymmetricKey, topic: String) throws(BrokerError) -> RecallHandle {
        if text.isEmpty { throw BrokerError(.invalidArgument, "recall_handle is empty") }
        guard text.utf8.count <= maxTextLength else {
            throw BrokerError(.invalidArgument, "recall_handle is \(text.utf8.count) bytes; a recall handle has at most \(maxTextLength)")
        }
        guard let bytes = Base64URL.decode(text, maximumLength: maxTextLength), bytes.count >= fixedSize + tagSize else {
            throw BrokerError(.invalidArgument, "recall_handle '\(text.prefix(60))' is not a recall handle issued by this broker")
        }
        let idLength = Int(bytes[fixedSize - 1])
        guard bytes[0] == version, bytes.count == fixedSize + idLength + tagSize else {
            throw BrokerError(.invalidArgument, "recall_handle '\(text.prefix(60))' is not a recall handle issued by this broker")
        }
        let payload = Array(bytes[0..<(fixedSize + idLength)])
        let expected = HandleSignature.tag(key: HandleSigningKey(key), context: ["sluice-recall", topic], payload: payload, size: tagSize)
        guard HandleSignature.matches(expected, Array(bytes[payload.count...])) else {
            throw BrokerError(.invalidArgument, "recall_handle was not issued by this broker for a message of topic \(topic)")
        }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value = value << 8 | T(payload[offset + index]) }
            return value
        }
        return RecallHandle(
            physicalOffset: read(1, UInt64.self), queueId: read(9, UInt32.self), queueOffset: read(13, UInt64.self),
            deliveryMs: Int64(bitPattern: read(21, UInt64.self)),
            messageId: String(decoding: payload[fixedSize...], as: UTF8.self))
    }
}
