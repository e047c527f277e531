import SluiceBroker
import SluiceWire

/// Field checks shared by every RPC: string lengths and characters, names, ids. Each throws the
/// RocketMQ code for its field with a message naming the field, what it got (shortened) and the
/// limit.
enum WireCheck {
    /// At most `limit` UTF-8 bytes.
    static func length(
        _ value: String, atMost limit: Int, field: String, code: Apache_Rocketmq_V2_Code
    ) throws(ProtocolRefusal) {
        let count = value.utf8.count
        if count > limit {
            throw ProtocolRefusal(code, "\(field) is \(count) bytes; the limit is \(limit) bytes")
        }
    }

    /// Non-empty, at most `limit` bytes, no control characters (C0, DEL, C1).
    static func text(
        _ value: String, atMost limit: Int, field: String, code: Apache_Rocketmq_V2_Code
    ) throws(ProtocolRefusal) {
        if value.isEmpty { throw ProtocolRefusal(code, "\(field) is empty") }
        try length(value, atMost: limit, field: field, code: code)
        if let bad = value.unicodeScalars.first(where: isControl) {
            throw ProtocolRefusal(
                code, "\(field) \(shown(value)) contains the control character \(bad.escaped(asASCII: true))")
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// A topic a request names: RocketMQ's characters and length (a dead-letter topic may be as
    /// long as its group allows). Unknown names are the caller's TOPIC_NOT_FOUND.
    static func topicName(_ name: String, field: String = "topic") throws(ProtocolRefusal) {
        if name.isEmpty { throw ProtocolRefusal(.illegalTopic, "the \(field) name is empty") }
        let limit = ConsumerGroup.groupOfDeadLetterTopic(name) == nil ? WireLimits.topicBytes : WireLimits.deadLetterTopicBytes
        try length(name, atMost: limit, field: "\(field) name", code: .illegalTopic)
        if !name.utf8.allSatisfy(isNameByte) {
            throw ProtocolRefusal(
                .illegalTopic, "\(field) name \(shown(name)) may use only letters, digits, '%', '_' and '-'")
        }
    }

    /// A lite topic name: 1 to `MessageProperty.liteTopicMaxLength` (64) of `[%a-zA-Z0-9_-]`,
    /// ILLEGAL_LITE_TOPIC otherwise. Only ASCII is allowed, so characters and bytes agree (the
    /// Python client checks the length in characters against the advertised limit).
    static func liteTopic(_ name: String, field: String = "lite_topic") throws(ProtocolRefusal) {
        if name.isEmpty { throw ProtocolRefusal(.illegalLiteTopic, "\(field) is empty") }
        try length(name, atMost: MessageProperty.liteTopicMaxLength, field: field, code: .illegalLiteTopic)
        if !name.utf8.allSatisfy(isNameByte) {
            throw ProtocolRefusal(
                .illegalLiteTopic, "\(field) \(shown(name)) may use only letters, digits, '%', '_' and '-'")
        }
    }

    /// A consumer group name (RocketMQ's rule: 1 to 255 of `[%a-zA-Z0-9_-]`).
    static func groupName(_ name: String) throws(ProtocolRefusal) {
        if name.isEmpty { throw ProtocolRefusal(.illegalConsumerGroup, "the consumer group name is empty") }
        try length(name, atMost: WireLimits.groupBytes, field: "consumer group name", code: .illegalConsumerGroup)
        if !name.utf8.allSatisfy(isNameByte) {
            throw ProtocolRefusal(
                .illegalConsumerGroup,
                "consumer group name \(shown(name)) may use only letters, digits, '%', '_' and '-'")
        }
    }

    /// The `x-mq-client-id` header: empty is the caller's business (some RPCs require it).
    static func clientId(_ id: String) throws(ProtocolRefusal) {
        try length(id, atMost: WireLimits.clientIdBytes, field: "x-mq-client-id", code: .badRequest)
    }

    static func receiptHandle(_ handle: String) throws(ProtocolRefusal) {
        if handle.isEmpty { throw ProtocolRefusal(.invalidReceiptHandle, "receipt_handle is empty") }
        try length(handle, atMost: WireLimits.receiptHandleBytes, field: "receipt_handle", code: .invalidReceiptHandle)
    }

    static func messageId(_ id: String, field: String = "message_id") throws(ProtocolRefusal) {
        try length(id, atMost: WireLimits.messageIdBytes, field: field, code: .illegalMessageID)
        if let bad = id.unicodeScalars.first(where: isControl) {
            throw ProtocolRefusal(.illegalMessageID, "\(field) contains the control character \(bad.escaped(asASCII: true))")
        }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "%")
    }

    /// A client value for a message: quoted, escaped, and cut to 64 characters so a refusal never
    /// echoes a huge or binary field back.
    static func shown(_ value: String) -> String {
        let scalars = value.unicodeScalars
        let head = String(String.UnicodeScalarView(scalars.prefix(64)))
        let escaped = head.unicodeScalars.map { isControl($0) ? $0.escaped(asASCII: true) : String($0) }.joined()
        return "'" + escaped + (scalars.count > 64 ? "…' (\(value.utf8.count) bytes)" : "'")
    }
}
