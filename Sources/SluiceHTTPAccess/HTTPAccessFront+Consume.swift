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

/// `GET /topics/{topic}/messages?consumer=&numOfMessages=&waitseconds=&tag=[&trans=order]`: a
/// long-polling receive for the consumer group `consumer`, through the same `ReceiveMessage`
/// path as gRPC consumers. `trans=pop` is the producer's half-message poll (`+Transactions`).
extension HTTPAccessFront {
    func consume(_ request: Request, _ call: Call) async throws(HTTPAccessError) -> Response {
        let trans = call.query["trans"] ?? ""
        if trans == "pop" { return try await pollHalves(request, call) }
        guard trans.isEmpty || trans == "order" else {
            throw .invalid("trans is '\(trans.prefix(16))'; a consume takes none, 'order' or 'pop'")
        }
        let group = try consumer(call)
        try await authorize(
            request, call: call, operation: "consume", [.subscribe(topic: call.topic), .subscribe(group: group)])
        let batch = try HTTPAccessLimits.number(
            call.value("numOfMessages"), "numOfMessages", in: HTTPAccessLimits.batchRange, default: 1)
        let waitSeconds = try HTTPAccessLimits.number(
            call.value("waitseconds"), "waitseconds", in: HTTPAccessLimits.waitSecondsRange, default: 0)
        do throws(FrontRefusal) {
            _ = try await service.topicChecked(call.topic)
            let definition = try await service.consumerGroupChecked(group)
            if trans == "order", !definition.fifo {
                throw FrontRefusal(
                    .badRequest,
                    "consumer group \(group) is not FIFO; orderly consume needs a FIFO group (POST /v1/groups with \"fifo\": true)")
            }
        } catch {
            throw HTTPAccessError(error)
        }
        var receive = Apache_Rocketmq_V2_ReceiveMessageRequest()
        receive.group.name = group
        receive.messageQueue.topic.name = call.topic
        if let tag = call.query["tag"], !tag.isEmpty {
            receive.filterExpression.type = .tag
            receive.filterExpression.expression = tag
        }
        receive.batchSize = Int32(batch)
        receive.invisibleDuration = Google_Protobuf_Duration(seconds: HTTPAccessLimits.invisibleSeconds, nanos: 0)
        receive.longPollingTimeout = Google_Protobuf_Duration(seconds: Int64(waitSeconds), nanos: 0)
        let messages: [Apache_Rocketmq_V2_Message]
        do throws(FrontRefusal) {
            messages = try await service.receiveChecked(receive, clientId: Self.consumerClientId)
        } catch {
            throw HTTPAccessError(error)
        }
        guard !messages.isEmpty else { throw HTTPAccessError.noMessage(call.topic) }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let consumed = messages.map { message in
            Self.consumed(
                message, receiptHandle: message.systemProperties.receiptHandle,
                consumedTimes: Int(message.systemProperties.deliveryAttempt), nowMs: nowMs)
        }
        return xmlResponse(.ok, ResponseBodies.messages(consumed))
    }

    /// The `consumer` parameter: required, a valid group name (checked again by the broker).
    func consumer(_ call: Call) throws(HTTPAccessError) -> String {
        guard let consumer = call.query["consumer"], !consumer.isEmpty else {
            throw .invalid("the consumer parameter (the consumer group) is required")
        }
        return consumer
    }

    /// One message as the protocol shows it. FirstConsumeTime is this delivery's time for a
    /// first delivery; the broker does not keep the first delivery's time, so a redelivery shows
    /// its own time too (docs/access.md).
    static func consumed(
        _ message: Apache_Rocketmq_V2_Message, receiptHandle: String, consumedTimes: Int, nowMs: Int64
    ) -> ResponseBodies.ConsumedMessage {
        let system = message.systemProperties
        var properties = message.userProperties.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
        if !system.keys.isEmpty { properties.append((SystemProperty.keys, system.keys.joined(separator: " "))) }
        if system.hasMessageGroup { properties.append((SystemProperty.shardingKey, system.messageGroup)) }
        if system.hasDeliveryTimestamp {
            let ms = system.deliveryTimestamp.seconds.multipliedReportingOverflow(by: 1000).partialValue
                &+ Int64(system.deliveryTimestamp.nanos / 1_000_000)
            properties.append((SystemProperty.startDeliverTime, "\(ms)"))
        }
        let storeMs = system.storeTimestamp.seconds.multipliedReportingOverflow(by: 1000).partialValue
            &+ Int64(system.storeTimestamp.nanos / 1_000_000)
        return ResponseBodies.ConsumedMessage(
            messageId: system.messageID, receiptHandle: receiptHandle, bodyMD5: bodyMD5(message.body),
            body: String(decoding: message.body, as: UTF8.self), publishTimeMs: storeMs, firstConsumeTimeMs: nowMs,
            nextConsumeTimeMs: nowMs &+ HTTPAccessLimits.invisibleSeconds * 1000, consumedTimes: max(1, consumedTimes),
            tag: system.hasTag ? system.tag : nil, properties: MessageProperties.format(properties))
    }
}
