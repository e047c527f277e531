import Logging
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol

/// SUBSCRIBE: each filter's first level is a Sluice topic, consumed by the client's own group
/// (`mqtt-<client id>`) or, for `$share/<group>/<filter>`, by `<group>`, shared with the other
/// members. The QoS asked for is granted (0, 1 or 2).
extension MQTTConnection {
    /// The SUBACK return code, and the pump to start when this filter needs a new one.
    /// - Parameter resuming: the filter comes from a stored session, not a SUBSCRIBE.
    func subscribe(_ subscription: MQTTSubscription, client: Client, resuming: Bool = false) async
        -> (code: UInt8, newPump: MQTTSessionState.PumpKey?)
    {
        let refused: (UInt8, MQTTSessionState.PumpKey?) = (0x80, nil)
        let shared = MQTTTopicMapping.shared(subscription.filter)
        let filter = shared?.filter ?? subscription.filter
        if subscription.filter.hasPrefix("$share/"), shared == nil { return refused }
        guard (try? MQTTTopic.checkFilter(filter)) != nil, let topic = MQTTTopicMapping.topic(ofFilter: filter),
            let group = shared.map(\.group) ?? MQTTTopicMapping.group(ofClient: client.clientId),
            MQTTTopicMapping.isGroupName(group) || shared == nil
        else { return refused }
        do throws(AccessDenial) {
            try front.access.authorize(accessKey: client.accessKey, [.subscribe(topic: topic), .subscribe(group: group)])
        } catch {
            await front.access.record(error, call: "MQTT SUBSCRIBE", client: MQTTFront.serviceClientId)
            return refused
        }
        do throws(FrontRefusal) {
            // A client's own group starts at the end when it subscribes anew (no pump reads it
            // yet): it must not get what was sent before. A shared group, or a resumed
            // session's group, keeps its place: what waits there was sent for this client.
            let key = MQTTSessionState.PumpKey(group: group, topic: topic)
            let startAtEnd = shared == nil && !resuming && session.filters(key) == nil
            try await front.service.subscribeChecked(group: group, topic: topic, startAtEnd: startAtEnd)
        } catch {
            front.logger.debug("MQTT subscription refused", metadata: ["error": "\(error.message)"])
            return refused
        }
        let granted = subscription.qos
        let key = MQTTSessionState.PumpKey(group: group, topic: topic)
        switch session.subscribe(key, filter: subscription.filter, qos: granted) {
        case .overLimit: return refused
        case .existingPump: return (granted.rawValue, nil)
        case .newPump: return (granted.rawValue, key)
        }
    }
}
