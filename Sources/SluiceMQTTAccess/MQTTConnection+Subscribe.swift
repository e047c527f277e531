import Logging
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceWire

/// SUBSCRIBE: each filter's first level is a Sluice topic, consumed by the client's own group
/// (`mqtt-<client id>`) or, for `$share/<group>/<filter>`, by `<group>`, shared with the other
/// members. The QoS asked for is granted (0, 1 or 2). MQTT 5 options (No Local, Retain As
/// Published, Retain Handling) are kept with the subscription; refusals get MQTT 5 reason codes.
extension MQTTConnection {
    /// A SUBSCRIBE packet: each filter subscribed, the session store told, SUBACK, then the
    /// retained messages the new filters match.
    func subscribe(
        packetId: UInt16, _ subscriptions: [MQTTSubscription], properties: MQTTProperties, client: Client,
        group: inout DiscardingTaskGroup
    ) async throws {
        // The packet's subscription identifier goes with each of its filters (§3.8.2.1.2); a
        // filter subscribed again without one loses its old one.
        let identifier = properties.subscriptionIdentifiers.first
        if let shared = subscriptions.first(where: { $0.noLocal && $0.filter.hasPrefix("$share/") }) {
            throw MQTTAccessError.protocolError("No Local on the shared subscription \(shared.filter.prefix(64))")
        }
        var codes: [UInt8] = []
        var existed: [Bool] = []
        for var subscription in subscriptions {
            subscription.identifier = identifier
            existed.append(session.hasFilter(subscription.filter))
            let (code, newPump) = await subscribe(subscription, client: client)
            codes.append(code)
            if code < 0x80 {
                var granted = subscription
                granted.qos = MQTTQoS(rawValue: code) ?? .atMostOnce
                do throws(BrokerError) {
                    try await client.sessions.subscribed(
                        client.clientId, filter: subscription.filter, options: granted.options, identifier: identifier)
                } catch {
                    throw MQTTAccessError("storage", "cannot keep the subscription: \(error.message)")
                }
            }
            if let newPump {
                let pump = MQTTPump(connection: self, client: client, key: newPump)
                group.addTask { await pump.run() }
            }
        }
        MQTTAccessMetrics.shared.packet("subscribe", code: codes.contains { $0 >= 0x80 } ? "refused" : "ok")
        try await send(.suback(packetId: packetId, returnCodes: codes))
        for ((subscription, code), existed) in zip(zip(subscriptions, codes), existed) where code < 0x80 {
            // Retain Handling (§3.3.1.3): 0 always, 1 only for a new subscription, 2 never.
            if subscription.retainHandling == 2 || (subscription.retainHandling == 1 && existed) { continue }
            try await sendRetained(
                subscription.filter, granted: MQTTQoS(rawValue: code) ?? .atMostOnce, identifier: identifier, client: client)
        }
    }

    /// The SUBACK code, and the pump to start when this filter needs a new one.
    /// - Parameter resuming: the filter comes from a stored session, not a SUBSCRIBE.
    func subscribe(_ subscription: MQTTSubscription, client: Client, resuming: Bool = false) async
        -> (code: UInt8, newPump: MQTTSessionState.PumpKey?)
    {
        // MQTT 3.1.1 has one refusal code.
        func refused(_ reasonCode: UInt8) -> (UInt8, MQTTSessionState.PumpKey?) {
            (client.version == .v5 ? reasonCode : MQTTReasonCode.unspecifiedError, nil)
        }
        let shared = MQTTTopicMapping.shared(subscription.filter)
        let filter = shared?.filter ?? subscription.filter
        if subscription.filter.hasPrefix("$share/"), shared == nil { return refused(MQTTReasonCode.topicFilterInvalid) }
        guard (try? MQTTTopic.checkFilter(filter)) != nil else { return refused(MQTTReasonCode.topicFilterInvalid) }
        // A first-level wildcard would span every Sluice topic, which a consumer group cannot.
        guard let topic = MQTTTopicMapping.topic(ofFilter: filter) else {
            return refused(MQTTReasonCode.implementationSpecificError)
        }
        guard let group = shared.map(\.group) ?? MQTTTopicMapping.group(ofClient: client.clientId),
            MQTTTopicMapping.isGroupName(group) || shared == nil
        else { return refused(MQTTReasonCode.topicFilterInvalid) }
        do throws(AccessDenial) {
            try front.access.authorize(accessKey: client.accessKey, [.subscribe(topic: topic), .subscribe(group: group)])
        } catch {
            await front.access.record(error, call: "MQTT SUBSCRIBE", client: MQTTFront.serviceClientId)
            return refused(MQTTReasonCode.notAuthorized)
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
            return refused(error.code == .topicNotFound ? MQTTReasonCode.topicFilterInvalid : MQTTReasonCode.unspecifiedError)
        }
        let granted = subscription.qos
        let key = MQTTSessionState.PumpKey(group: group, topic: topic)
        switch session.subscribe(key, subscription) {
        case .overLimit: return refused(MQTTReasonCode.quotaExceeded)
        case .existingPump: return (granted.rawValue, nil)
        case .newPump: return (granted.rawValue, key)
        }
    }
}
