import Foundation
import SluiceWire
import SwiftProtobuf

/// Conversions between the SDK's message types and the generated protocol messages.
enum WireMessage {
    /// The protocol message for `message`, with a fresh message id unless one is given.
    static func encode(
        _ message: Message, type: Apache_Rocketmq_V2_MessageType, namespace: String, messageID: String
    ) -> Apache_Rocketmq_V2_Message {
        var wire = Apache_Rocketmq_V2_Message()
        wire.topic = resource(message.topic, namespace: namespace)
        wire.body = Data(message.body)
        wire.userProperties = message.properties
        wire.systemProperties.messageID = messageID
        wire.systemProperties.messageType = type
        wire.systemProperties.bodyEncoding = .identity
        wire.systemProperties.bornHost = ClientIdentity.hostAddress
        wire.systemProperties.bornTimestamp = Google_Protobuf_Timestamp(date: Date())
        if let tag = message.tag { wire.systemProperties.tag = tag }
        wire.systemProperties.keys = message.keys
        if let group = message.messageGroup { wire.systemProperties.messageGroup = group }
        if let time = message.deliveryTime { wire.systemProperties.deliveryTimestamp = Google_Protobuf_Timestamp(date: time) }
        return wire
    }

    /// The message type the official clients infer: group ⇒ FIFO, delivery time ⇒ DELAY, else NORMAL.
    static func inferredType(of message: Message) throws(SluiceClientError) -> Apache_Rocketmq_V2_MessageType {
        switch (message.messageGroup, message.deliveryTime) {
        case (nil, nil): return .normal
        case (.some, nil): return .fifo
        case (nil, .some): return .delay
        case (.some, .some):
            throw SluiceClientError(
                code: .invalidArgument, message: "a message cannot have both a message group (FIFO) and a delivery time (DELAY)")
        }
    }

    /// Local checks the official clients make before any RPC (not retried).
    static func validate(_ message: Message) throws(SluiceClientError) {
        if message.body.isEmpty {
            throw SluiceClientError(code: .invalidArgument, message: "message body is empty")
        }
        let topicOK = !message.topic.isEmpty && message.topic.utf8.count <= 127
            && message.topic.unicodeScalars.allSatisfy(isNameScalar)
        if !topicOK {
            throw SluiceClientError(
                code: .invalidArgument, message: "topic \"\(message.topic)\" must match ^[%a-zA-Z0-9_-]{1,127}$")
        }
        if let tag = message.tag, tag.isEmpty || tag.contains("|") || tag.allSatisfy(\.isWhitespace) {
            throw SluiceClientError(code: .invalidArgument, message: "tag \"\(tag)\" must be non-blank and contain no '|'")
        }
        if let group = message.messageGroup, group.isEmpty {
            throw SluiceClientError(code: .invalidArgument, message: "message group is empty")
        }
    }

    /// `[%a-zA-Z0-9_-]`: what RocketMQ allows in topic and group names.
    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true  // 0-9, A-Z, a-z
        case 0x25, 0x5F, 0x2D: true  // % _ -
        default: false
        }
    }

    static func resource(_ name: String, namespace: String) -> Apache_Rocketmq_V2_Resource {
        var resource = Apache_Rocketmq_V2_Resource()
        resource.name = name
        resource.resourceNamespace = namespace
        return resource
    }

    /// The SDK view of a delivered (or check-back) message.
    static func decode(_ wire: Apache_Rocketmq_V2_Message) throws(SluiceClientError) -> ReceivedMessage {
        let system = wire.systemProperties
        switch system.bodyEncoding {
        case .identity: break
        default:
            // GZIP bodies are not produced by Sluice; decoding them needs zlib, not built yet.
            throw SluiceClientError(
                code: .unexpectedResponse,
                message: "message \(system.messageID) has body encoding \(system.bodyEncoding); only IDENTITY is supported")
        }
        return ReceivedMessage(
            topic: wire.topic.name,
            messageID: system.messageID,
            body: Array(wire.body),
            tag: system.hasTag ? system.tag : nil,
            keys: system.keys,
            properties: wire.userProperties,
            messageGroup: system.hasMessageGroup ? system.messageGroup : nil,
            bornTime: system.hasBornTimestamp ? system.bornTimestamp.date : nil,
            deliveryTime: system.hasDeliveryTimestamp ? system.deliveryTimestamp.date : nil,
            deliveryAttempt: Int(system.deliveryAttempt),
            receiptHandle: system.receiptHandle)
    }
}
