import Logging
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage
import SluiceWire

/// PUBLISH from the client: a NORMAL message appended through SendMessage's path; the PUBACK
/// for QoS 1 is sent only after the store acknowledged the append.
extension MQTTConnection {
    func publish(_ publish: MQTTPublish, client: MQTTConnection.Client) async throws {
        guard publish.qos != .exactlyOnce else {
            MQTTAccessMetrics.shared.packet("publish", code: "qos2")
            throw MQTTAccessError("qos2", "QoS 2 is not supported; publish with QoS 0 or 1")
        }
        try await append(publish, client: client, call: "MQTT PUBLISH")
        MQTTAccessMetrics.shared.packet("publish")
        if let packetId = publish.packetId, publish.qos == .atLeastOnce {
            try await send(.puback(packetId: packetId))
        }
    }

    /// Checks `pub` on the topic and appends the message; returns once the store acknowledged it.
    /// With RETAIN the message also becomes the topic's retained one (after the append, so a
    /// retained message was always a published one); an empty retained payload only deletes the
    /// retained message (§3.3.1.3), since Sluice stores no empty bodies.
    /// - Throws: `MQTTAccessError` `forbidden` or `refused` (counted in the packet metric).
    func append(_ publish: MQTTPublish, client: MQTTConnection.Client, call: String) async throws(MQTTAccessError) {
        let topic = MQTTTopicMapping.split(publish.topic).topic
        do throws(AccessDenial) {
            try front.access.authorize(accessKey: client.accessKey, [.publish(topic: topic)])
        } catch {
            await front.access.record(error, call: call, client: MQTTFront.serviceClientId)
            MQTTAccessMetrics.shared.packet("publish", code: "forbidden")
            throw MQTTAccessError("forbidden", error.message)
        }
        if publish.retain, publish.payload.isEmpty {
            try await retain(publish)
            return
        }
        do throws(FrontRefusal) {
            let definition = try await front.service.topicChecked(topic)
            var request = Apache_Rocketmq_V2_SendMessageRequest()
            request.messages = [
                MQTTTopicMapping.wireMessage(publish, topic: definition.name, messageId: front.messageIds.next())
            ]
            _ = try await front.service.sendChecked(request, clientId: MQTTFront.serviceClientId)
        } catch {
            MQTTAccessMetrics.shared.packet("publish", code: "refused")
            throw MQTTAccessError("refused", "publish to \(topic.prefix(64)) refused: \(error.message)")
        }
        if publish.retain { try await retain(publish) }
    }

    private func retain(_ publish: MQTTPublish) async throws(MQTTAccessError) {
        guard let store = front.handle.mqttRetained else {
            throw MQTTAccessError("refused", "retained messages are not open yet (the broker is starting)")
        }
        do throws(BrokerError) {
            try await store.retain(topic: publish.topic, payload: publish.payload, qos: publish.qos.rawValue)
        } catch {
            MQTTAccessMetrics.shared.packet("publish", code: "retain_refused")
            throw MQTTAccessError("refused", "retaining on \(publish.topic.prefix(64)) refused: \(error)")
        }
    }

    /// Publishes the client's last will after a connection ended without DISCONNECT (§3.1.2.5):
    /// a protocol error, keep-alive silence, a takeover or the network. QoS 2 is kept as 1.
    /// Nobody is left to tell of a refusal, so it is logged and counted.
    func publishWill(_ will: MQTTConnect.Will, client: MQTTConnection.Client) async {
        let publish = MQTTPublish(
            topic: will.topic, payload: will.payload, qos: min(will.qos, .atLeastOnce), retain: will.retain)
        do throws(MQTTAccessError) {
            try await append(publish, client: client, call: "MQTT will")
            MQTTAccessMetrics.shared.packet("will")
        } catch {
            front.logger.info(
                "MQTT last will not published", metadata: ["mqtt.client": "\(client.clientId)", "error": "\(error)"])
        }
    }
}
