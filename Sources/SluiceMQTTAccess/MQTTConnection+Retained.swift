import SluiceBroker
import SluiceMQTTWire

/// Retained messages (§3.3.1.3): after a SUBACK, each retained message a new filter matches is
/// sent with RETAIN set, QoS min(granted, stored, 1): a
/// retained message is not a Sluice message with a place to acknowledge, so QoS 2 is sent as 1. Shared subscriptions get none: a retained
/// message is state for each subscriber, not work to share out (as MQTT 5 §4.8.2 says).
extension MQTTConnection {
    func sendRetained(_ filter: String, granted: MQTTQoS, identifier: Int? = nil, client: Client) async throws {
        guard MQTTTopicMapping.shared(filter) == nil, !filter.hasPrefix("$share/"),
            let store = front.handle.mqttRetained
        else { return }
        let matches = store.matching { MQTTTopic.matches(filter: filter, name: $0) }
        for message in matches {
            let qos = min(granted, MQTTQoS(rawValue: message.qos) ?? .atLeastOnce, .atLeastOnce)
            var publish = MQTTPublish(topic: message.topic, payload: message.payload, qos: qos, retain: true)
            if let identifier { publish.properties.subscriptionIdentifiers = [identifier] }
            if qos == .atLeastOnce {
                // Tracked like any QoS 1 delivery, with no Sluice receipt to acknowledge.
                let pending = MQTTSessionState.Pending(
                    key: MQTTSessionState.PumpKey(group: "", topic: ""), receiptHandle: "")
                let reserved = Set(client.sessions.session(client.clientId)?.outbound.keys.map { $0 } ?? [])
                guard let (packetId, _) = session.track(pending, reserved: reserved) else { return }
                publish.packetId = packetId
            }
            // Over the client's maximum packet size: dropped as if sent (§3.1.2.11.4).
            if try await !send(.publish(publish)), let packetId = publish.packetId { _ = session.acknowledged(packetId) }
            MQTTAccessMetrics.shared.packet("deliver", code: "retained")
        }
    }
}
