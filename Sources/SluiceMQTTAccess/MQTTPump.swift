import Logging
import NIOCore
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage
import SluiceWire
import SwiftProtobuf

/// Moves messages from one consumer group and Sluice topic to the client: receives through
/// ReceiveMessage's path (long polling), delivers the ones a filter matches as PUBLISH with QoS
/// min(subscription, message), and acknowledges the rest at once. QoS 0 deliveries are
/// acknowledged once written; QoS 1 ones on the client's PUBACK; QoS 2 ones on its PUBREC, after
/// the session store marked the packet id received. Ends when its filters are gone
/// or the connection ends.
struct MQTTPump: Sendable {
    let connection: MQTTConnection
    let client: MQTTConnection.Client
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
                    // The connection is gone, or the session could not keep a QoS 2 packet id:
                    // either way it ends (a pump must not stop while its connection stays), and
                    // the claimed messages come back after their invisible time or on the
                    // session's return.
                    front.logger.debug("MQTT delivery ended the connection", metadata: ["error": "\(error)"])
                    connection.channel.close(promise: nil)
                    return
                }
            }
        }
    }

    private func deliver(_ message: Apache_Rocketmq_V2_Message) async throws {
        let system = message.systemProperties
        let origin = MQTTSessionStore.origin(
            group: key.group, topic: key.topic, queueId: system.queueID, queueOffset: system.queueOffset)
        let pending = MQTTSessionState.Pending(key: key, receiptHandle: system.receiptHandle, origin: origin)
        let (name, messageQoS) = MQTTTopicMapping.mqtt(message, topic: key.topic)
        let subscriptions = connection.session.filters(key) ?? [:]
        let publisher = message.userProperties[MQTTPropertyMapping.clientId]
        let matched = subscriptions.values.filter { subscription in
            let filter = MQTTTopicMapping.shared(subscription.filter)?.filter ?? subscription.filter
            // No Local (MQTT 5 §3.8.3.1): not the client's own publishes.
            return MQTTTopic.matches(filter: filter, name: name) && !(subscription.noLocal && publisher == client.clientId)
        }
        // Expired (MQTT 5 message expiry interval): never delivered, to any client version.
        guard let granted = matched.map(\.qos).max(),
            let delivered = MQTTPropertyMapping.delivered(message.userProperties, nowMs: WallClock.nowMs())
        else {
            await connection.front.acknowledge(pending)
            return
        }
        // Retain As Published: RETAIN as the publisher set it; otherwise cleared (§3.3.1.3).
        let retain = matched.contains(where: \.retainAsPublished) && message.userProperties[MQTTPropertyMapping.retain] == "1"
        let qos = min(granted, messageQoS)
        let payload = Array(message.body)
        var properties = delivered
        // One identifier per matching subscription that has one (§3.3.4).
        properties.subscriptionIdentifiers = Set(matched.compactMap(\.identifier)).sorted()
        guard connection.fits(.publish(MQTTPublish(topic: name, payload: payload, qos: qos, retain: retain, packetId: 1, properties: properties)))
        else {
            // Over the client's maximum packet size: dropped as if delivered (§3.1.2.11.4).
            MQTTAccessMetrics.shared.packet("deliver", code: "over_client_maximum")
            await connection.front.acknowledge(pending)
            return
        }
        // Delivered before (its attempt count says so, across restarts too): DUP (§3.3.1.1).
        let deliveredBefore = system.deliveryAttempt > 1
        switch qos {
        case .atMostOnce:
            try await connection.send(.publish(MQTTPublish(topic: name, payload: payload, retain: retain, properties: properties)))
            await connection.front.acknowledge(pending)
        case .atLeastOnce:
            // Not an id a QoS 2 delivery of the session still holds.
            let reserved = Set(client.sessions.session(client.clientId)?.outbound.keys.map { $0 } ?? [])
            guard let (packetId, again) = connection.session.track(pending, reserved: reserved) else { return }
            try await connection.send(.publish(MQTTPublish(
                topic: name, payload: payload, qos: .atLeastOnce, retain: retain, dup: again || deliveredBefore,
                packetId: packetId, properties: properties)))
        case .exactlyOnce:
            let sessions = client.sessions
            let outbound = sessions.session(client.clientId)?.outbound ?? [:]
            if let (packetId, known) = outbound.first(where: { $0.value.origin == origin }) {
                if known.released {
                    // PUBREC came before (the client has it): finish it in Sluice, never send it again.
                    await connection.front.acknowledge(pending)
                    return
                }
                // Sent before and not yet received: again with the same id and DUP (§4.3.3).
                connection.session.track(pending, as: packetId)
                try await connection.send(.publish(MQTTPublish(
                    topic: name, payload: payload, qos: .exactlyOnce, retain: retain, dup: true, packetId: packetId,
                    properties: properties)))
            } else {
                guard let (packetId, again) = connection.session.track(pending, reserved: Set(outbound.keys)) else {
                    return
                }
                // The id is kept (durably for a kept session) before the PUBLISH leaves, so a
                // redelivery after a reconnection or a crash reuses it.
                try await sessions.sending(client.clientId, packetId: packetId, origin: origin)
                try await connection.send(.publish(MQTTPublish(
                    topic: name, payload: payload, qos: .exactlyOnce, retain: retain, dup: again || deliveredBefore,
                    packetId: packetId, properties: properties)))
            }
        }
        MQTTAccessMetrics.shared.packet("deliver", code: "qos\(qos.rawValue)")
    }
}
