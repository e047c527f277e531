import Logging
import SluiceMQTTWire
import SluiceProtocol
import SluiceWire
import SwiftProtobuf

/// Moves messages from one consumer group and Sluice topic to the client: receives through
/// ReceiveMessage's path (long polling), delivers the ones a filter matches as PUBLISH with QoS
/// min(subscription, message), and acknowledges the rest at once. QoS 0 deliveries are
/// acknowledged once written; QoS 1 ones on the client's PUBACK. Ends when its filters are gone
/// or the connection ends.
struct MQTTPump: Sendable {
    let connection: MQTTConnection
    let key: MQTTSessionState.PumpKey

    static let maxBatch = 16

    func run() async {
        let front = connection.front
        while !Task.isCancelled {
            guard connection.session.filters(key) != nil else { return }
            let room = connection.session.inflightRoom
            guard room > 0 else {
                // Waiting for PUBACKs; a short sleep keeps this simple and the wait bounded.
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            var request = Apache_Rocketmq_V2_ReceiveMessageRequest()
            request.group.name = key.group
            request.messageQueue.topic.name = key.topic
            request.batchSize = Int32(min(room, Self.maxBatch))
            request.invisibleDuration = Google_Protobuf_Duration(seconds: MQTTAccessLimits.invisibleSeconds, nanos: 0)
            request.longPollingTimeout = Google_Protobuf_Duration(seconds: MQTTAccessLimits.longPollSeconds, nanos: 0)
            let messages: [Apache_Rocketmq_V2_Message]
            do throws(FrontRefusal) {
                messages = try await front.service.receiveChecked(request, clientId: MQTTFront.serviceClientId)
            } catch {
                front.logger.debug("MQTT receive refused", metadata: ["error": "\(error.message)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            for message in messages {
                do {
                    try await deliver(message)
                } catch {
                    // The connection is gone: the claimed messages come back after their invisible time.
                    return
                }
            }
        }
    }

    private func deliver(_ message: Apache_Rocketmq_V2_Message) async throws {
        let handle = message.systemProperties.receiptHandle
        let pending = MQTTSessionState.Pending(key: key, receiptHandle: handle)
        let (name, messageQoS) = MQTTTopicMapping.mqtt(message, topic: key.topic)
        let filters = connection.session.filters(key) ?? [:]
        let matched = filters.compactMap { filter, qos in
            MQTTTopic.matches(filter: MQTTTopicMapping.shared(filter)?.filter ?? filter, name: name) ? qos : nil
        }.max()
        guard let granted = matched else {
            await connection.front.acknowledge(pending)
            return
        }
        let qos = min(granted, messageQoS)
        let payload = Array(message.body)
        if qos == .atMostOnce {
            try await connection.send(.publish(MQTTPublish(topic: name, payload: payload)))
            await connection.front.acknowledge(pending)
        } else {
            guard let packetId = connection.session.track(pending) else { return }
            try await connection.send(.publish(MQTTPublish(topic: name, payload: payload, qos: .atLeastOnce, packetId: packetId)))
        }
        MQTTAccessMetrics.shared.packet("deliver", code: qos == .atMostOnce ? "qos0" : "qos1")
    }
}
