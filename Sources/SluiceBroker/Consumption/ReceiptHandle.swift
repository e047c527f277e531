import Crypto

/// What a receipt handle names: one delivery of one message to one group. Handed to the consumer
/// with the message and sent back with ack, change-invisible-duration and forward-to-DLQ.
///
/// Encoded as base64url of a small binary payload plus an HMAC-SHA256 tag (first 12 bytes) over
/// the group, the topic and the payload with the broker's own key (kept in the database), so a
/// handle cannot be forged, altered or used for another group or topic; the delivery token makes
/// an older delivery's handle stale once the message was delivered again.
public struct ReceiptHandle: Sendable, Hashable {
    public var queueId: UInt32
    public var queueOffset: UInt64
    public var deliveryToken: UInt64
    /// End of the delivery's invisibility, for information (the broker's own record decides).
    public var invisibleUntilMs: Int64

    static let version: UInt8 = 1
    static let payloadSize = 1 + 4 + 8 + 8 + 8
    static let tagSize = 12

    public init(queueId: UInt32, queueOffset: UInt64, deliveryToken: UInt64, invisibleUntilMs: Int64) {
        self.queueId = queueId
        self.queueOffset = queueOffset
        self.deliveryToken = deliveryToken
        self.invisibleUntilMs = invisibleUntilMs
    }

    /// The text form a client receives.
    public func encoded(key: SymmetricKey, group: String, topic: String) -> String {
        encoded(key: HandleSigningKey(key), group: group, topic: topic)
    }

    /// The text form a client receives, signed with a key whose HMAC schedule is ready.
    public func encoded(key: HandleSigningKey, group: String, topic: String) -> String {
        var payload: [UInt8] = [Self.version]
        payload.reserveCapacity(Self.payloadSize + Self.tagSize)
        HandleSignature.append(queueId.bigEndian, to: &payload)
        HandleSignature.append(queueOffset.bigEndian, to: &payload)
        HandleSignature.append(deliveryToken.bigEndian, to: &payload)
        HandleSignature.append(UInt64(bitPattern: invisibleUntilMs).bigEndian, to: &payload)
        payload += HandleSignature.tag(key: key, context: [group, topic], payload: payload, size: Self.tagSize)
        return Base64URL.encode(payload)
    }

    /// Decodes and authenticates a handle for `group` and `topic`.
    ///
    /// - Throws: `BrokerError` `.invalidReceiptHandle` saying what is wrong with it.
    public static func decode(_ text: String, key: SymmetricKey, group: String, topic: String) throws(BrokerError)
        -> ReceiptHandle
    {
        try decode(text, key: HandleSigningKey(key), group: group, topic: topic)
    }

    /// Decodes and authenticates a handle with a key whose HMAC schedule is ready.
    public static func decode(_ text: String, key: HandleSigningKey, group: String, topic: String) throws(BrokerError)
        -> ReceiptHandle
    {
        if text.isEmpty { throw BrokerError(.invalidReceiptHandle, "the receipt handle is empty") }
        guard let bytes = Base64URL.decode(text, maximumLength: 200), bytes.count == payloadSize + tagSize else {
            throw BrokerError(.invalidReceiptHandle, "'\(text.prefix(60))' is not a receipt handle issued by this broker")
        }
        let payload = Array(bytes[0..<payloadSize])
        let expected = HandleSignature.tag(key: key, context: [group, topic], payload: payload, size: tagSize)
        guard payload[0] == version, HandleSignature.matches(expected, Array(bytes[payloadSize...])) else {
            throw BrokerError(
                .invalidReceiptHandle,
                "the receipt handle was not issued by this broker for group \(group) and topic \(topic)")
        }
        func read<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value = value << 8 | T(payload[offset + index]) }
            return value
        }
        return ReceiptHandle(
            queueId: read(1, UInt32.self), queueOffset: read(5, UInt64.self), deliveryToken: read(13, UInt64.self),
            invisibleUntilMs: Int64(bitPattern: read(21, UInt64.self)))
    }
}
