import Foundation
import Hummingbird
import Logging
import SluiceStorage
import SwiftProtobuf
import SluiceBroker
import SluiceHTTPWire
import SluiceProtocol
import SluiceWire
import SwiftProtobuf

/// `POST /topics/{topic}/messages`: one message. Its kind comes from the topic's type (the
/// protocol's publish carries none): NORMAL, FIFO (`__SHARDINGKEY` is the message group), DELAY
/// (`__STARTDELIVERTIME`, ms since the epoch) or TRANSACTION (a half message; the answer carries
/// the receipt handle to commit or roll back with, and `__TransCheckT` is the first check delay
/// in seconds). `KEYS` are the message keys (space-separated); other properties are user ones.
extension HTTPAccessFront {
    /// Properties the protocol gives a meaning; they become system fields, not user properties.
    enum SystemProperty {
        static let keys = "KEYS"
        static let startDeliverTime = "__STARTDELIVERTIME"
        static let shardingKey = "__SHARDINGKEY"
        static let transCheckImmunity = "__TransCheckT"
    }

    /// The longest first-check delay `__TransCheckT` may ask for: the gRPC front's 24 h.
    static let maxTransCheckSeconds: Int64 = 24 * 3600

    func publish(_ request: Request, _ call: Call) async throws(HTTPAccessError) -> Response {
        try await authorize(request, call: call, operation: "publish", [.publish(topic: call.topic)])
        let bytes = try await body(request, limit: limits.maxPublishRequestBytes)
        let parsed: PublishRequestBody
        do throws(HTTPWireError) {
            parsed = try PublishRequestBody.parse(bytes.readableBytesView, maxBodyBytes: limits.maxBodyBytes)
        } catch {
            throw HTTPAccessError(error)
        }
        let topic: TopicDefinition
        do throws(FrontRefusal) {
            topic = try await service.topicChecked(call.topic)
        } catch {
            throw HTTPAccessError(error)
        }
        let message = try wireMessage(parsed, topic: topic)
        var send = Apache_Rocketmq_V2_SendMessageRequest()
        send.messages = [message]
        let entry: Apache_Rocketmq_V2_SendResultEntry
        do throws(FrontRefusal) {
            entry = try await service.sendChecked(send, clientId: HTTPCheckMailbox.clientId(topic: topic.name))
        } catch {
            throw HTTPAccessError(error)
        }
        let handle = topic.messageType == .transaction
            ? TransactionHandle(transactionId: entry.transactionID, fromCheck: false).text : nil
        return xmlResponse(
            .created,
            ResponseBodies.published(
                messageId: entry.messageID, bodyMD5: Self.bodyMD5(parsed.body.utf8), receiptHandle: handle))
    }

    /// The RocketMQ 5 message for a publish document on `topic`.
    /// - Throws: InvalidArgument for a property that does not fit the topic's type or is out of range.
    func wireMessage(_ parsed: PublishRequestBody, topic: TopicDefinition) throws(HTTPAccessError)
        -> Apache_Rocketmq_V2_Message
    {
        let properties: [(name: String, value: String)]
        do throws(HTTPWireError) {
            properties = try MessageProperties.parse(parsed.properties)
        } catch {
            throw HTTPAccessError(error)
        }
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic.name
        message.body = Data(parsed.body.utf8)
        var system = Apache_Rocketmq_V2_SystemProperties()
        system.messageID = messageIds.next()
        system.bornTimestamp = Google_Protobuf_Timestamp(date: Date())
        if let tag = parsed.tag, !tag.isEmpty { system.tag = tag }
        var startDeliver: String?
        var shardingKey: String?
        var transCheck: String?
        for (name, value) in properties {
            switch name {
            case SystemProperty.keys: system.keys = value.split(separator: " ").map(String.init)
            case SystemProperty.startDeliverTime: startDeliver = value
            case SystemProperty.shardingKey: shardingKey = value
            case SystemProperty.transCheckImmunity: transCheck = value
            default: message.userProperties[name] = value
            }
        }
        switch topic.messageType {
        case .normal:
            system.messageType = .normal
        case .fifo:
            guard let shardingKey else {
                throw .invalid("topic \(topic.name) is FIFO: set the sharding key (__SHARDINGKEY) on each message")
            }
            system.messageType = .fifo
            system.messageGroup = shardingKey
        case .delay:
            system.messageType = .delay
            let deliverMs = try startDeliver.map { text throws(HTTPAccessError) in
                guard text.utf8.count <= 19, let ms = Int64(text), ms >= 0 else {
                    throw .invalid("__STARTDELIVERTIME is '\(text.prefix(24))'; it must be milliseconds since the epoch")
                }
                return ms
            } ?? Int64(Date().timeIntervalSince1970 * 1000)
            // Both parts are in range: ms is non-negative and below Int64.max.
            system.deliveryTimestamp = Google_Protobuf_Timestamp(
                seconds: deliverMs / 1000, nanos: Int32(deliverMs % 1000) * 1_000_000)
        case .transaction:
            system.messageType = .transaction
            if let transCheck {
                guard transCheck.utf8.count <= 6, let seconds = Int64(transCheck),
                    (0...Self.maxTransCheckSeconds).contains(seconds)
                else {
                    throw .invalid(
                        "__TransCheckT is '\(transCheck.prefix(24))'; it must be whole seconds from 0 to \(Self.maxTransCheckSeconds)")
                }
                system.orphanedTransactionRecoveryDuration = Google_Protobuf_Duration(seconds: seconds, nanos: 0)
            }
        case .priority, .lite:
            throw .invalid(
                "topic \(topic.name) takes \(topic.messageType.rawValue) messages, which the HTTP protocol cannot carry")
        }
        if topic.messageType != .delay, startDeliver != nil {
            throw .invalid(
                "__STARTDELIVERTIME is set but topic \(topic.name) takes \(topic.messageType.rawValue) messages; use a DELAY topic")
        }
        if topic.messageType != .fifo, shardingKey != nil {
            throw .invalid(
                "__SHARDINGKEY is set but topic \(topic.name) takes \(topic.messageType.rawValue) messages; use a FIFO topic")
        }
        message.systemProperties = system
        return message
    }
}

/// The receipt handle of an HTTP transaction: `P.<id>` from the publish (the producer's own
/// end), `C.<id>` from a half-message poll (the answer to a check). The transaction id is the
/// broker's own; ending it is still subject to the same ownership and state checks as gRPC.
struct TransactionHandle: Sendable, Equatable {
    var transactionId: String
    var fromCheck: Bool

    var text: String { (fromCheck ? "C." : "P.") + transactionId }

    init(transactionId: String, fromCheck: Bool) {
        self.transactionId = transactionId
        self.fromCheck = fromCheck
    }

    init?(_ text: String) {
        guard text.utf8.count > 2, text.utf8.count <= 256 else { return nil }
        if text.hasPrefix("P.") {
            self.init(transactionId: String(text.dropFirst(2)), fromCheck: false)
        } else if text.hasPrefix("C.") {
            self.init(transactionId: String(text.dropFirst(2)), fromCheck: true)
        } else {
            return nil
        }
    }
}
