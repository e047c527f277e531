import Logging
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage
import SluiceWire

/// PUBLISH from the client: a NORMAL message appended through SendMessage's path; the PUBACK
/// for QoS 1 and the PUBREC for QoS 2 are sent only after the store acknowledged the append.
/// Under MQTT 5 a refused publish gets its reason code in the PUBACK or PUBREC (nothing for
/// QoS 0) and the connection stays.
extension MQTTConnection {
    func publish(_ received: MQTTPublish, client: MQTTConnection.Client) async throws {
        let version = session.version
        let publish = version == .v5 ? try resolveTopic(received) : received
        do {
            switch publish.qos {
            case .atMostOnce:
                try await append(publish, client: client, call: "MQTT PUBLISH")
            case .atLeastOnce:
                try await append(publish, client: client, call: "MQTT PUBLISH")
                if let packetId = publish.packetId { try await send(.puback(packetId: packetId)) }
            case .exactlyOnce:
                guard let packetId = publish.packetId else { return }
                try await publishExactlyOnce(publish, packetId: packetId, client: client)
            }
        } catch let error as MQTTAccessError where version == .v5 && !error.fatal {
            front.logger.debug("MQTT 5 publish refused", metadata: ["error": "\(error)", "mqtt.client": "\(client.clientId)"])
            let properties = problem(error.message)
            switch publish.qos {
            case .atMostOnce: break
            case .atLeastOnce:
                try await send(.puback(packetId: publish.packetId ?? 1, reasonCode: error.reasonCode, properties: properties))
            case .exactlyOnce:
                try await send(.pubrec(packetId: publish.packetId ?? 1, reasonCode: error.reasonCode, properties: properties))
            }
            return
        }
        MQTTAccessMetrics.shared.packet("publish")
    }

    /// An MQTT 5 PUBLISH with its topic alias resolved (§3.3.2.3.4), and checked for what a
    /// client may not send.
    /// - Throws: a fatal `MQTTAccessError`: 0x94 for an alias out of range, 0x82 for an unset
    ///   one or a subscription identifier from the client.
    private func resolveTopic(_ received: MQTTPublish) throws(MQTTAccessError) -> MQTTPublish {
        var publish = received
        if !publish.properties.subscriptionIdentifiers.isEmpty {
            throw .protocolError("a PUBLISH from a client carries a subscription identifier")
        }
        guard let alias = publish.properties.topicAlias else { return publish }
        switch session.resolve(alias: alias, topic: publish.topic) {
        case .topic(let topic): publish.topic = topic
        case .invalid:
            throw .protocolError(
                "topic alias \(alias) is past the maximum \(MQTTSessionState.topicAliasMaximum)",
                reasonCode: MQTTReasonCode.topicAliasInvalid)
        case .unknown: throw .protocolError("topic alias \(alias) was never set")
        }
        publish.properties.topicAlias = nil
        return publish
    }

    /// A reason string for an MQTT 5 answer, unless the client asked for none (§3.1.2.11.7).
    func problem(_ message: String) -> MQTTProperties {
        var properties = MQTTProperties()
        if session.negotiated.problemInformation { properties.reasonString = String(message.prefix(256)) }
        return properties
    }

    /// QoS 2 from the client (§4.3.3, method B: the message is stored at PUBLISH, the id kept
    /// until PUBREL). A PUBLISH whose id the session holds is a re-send: answered PUBREC again,
    /// not stored again. The id is kept (durably for a kept session) after the append was
    /// acknowledged and before PUBREC, so a crash between the two may store a re-sent message
    /// twice; docs/access.md says so.
    /// - Throws: `MQTTAccessError` `qos2_limit` past the in-flight limit, `storage` when the
    ///   id cannot be kept, or the append's refusal.
    private func publishExactlyOnce(_ publish: MQTTPublish, packetId: UInt16, client: MQTTConnection.Client)
        async throws
    {
        let sessions = client.sessions
        if sessions.hasInbound(client.clientId, packetId: packetId) {
            MQTTAccessMetrics.shared.packet("publish", code: "qos2_resent")
        } else {
            let held = sessions.inboundCount(client.clientId)
            guard held < front.limits.maxInflightPerConnection else {
                MQTTAccessMetrics.shared.packet("publish", code: "qos2_limit")
                throw MQTTAccessError(
                    "qos2_limit",
                    "\(held) QoS 2 publishes await PUBREL; the limit is \(front.limits.maxInflightPerConnection) (--mqtt-max-inflight)",
                    reasonCode: MQTTReasonCode.receiveMaximumExceeded)
            }
            try await append(publish, client: client, call: "MQTT PUBLISH")
            do throws(BrokerError) {
                try await sessions.received(client.clientId, packetId: packetId)
            } catch {
                throw MQTTAccessError("storage", "cannot keep QoS 2 packet id \(packetId): \(error.message)")
            }
        }
        try await send(.pubrec(packetId: packetId))
    }

    /// PUBREL from the client: the id is let go (a later PUBLISH with it is a new message);
    /// PUBCOMP answers, also for an id the session does not hold (§4.3.3; MQTT 5 then says
    /// 0x92, packet identifier not found).
    func release(_ packetId: UInt16, client: MQTTConnection.Client) async throws {
        let known = client.sessions.hasInbound(client.clientId, packetId: packetId)
        do throws(BrokerError) {
            try await client.sessions.released(client.clientId, packetId: packetId)
        } catch {
            throw MQTTAccessError("storage", "cannot let QoS 2 packet id \(packetId) go: \(error.message)")
        }
        try await send(.pubcomp(packetId: packetId, reasonCode: known ? 0 : MQTTReasonCode.packetIdentifierNotFound))
    }

    /// PUBREC for a QoS 2 delivery: the session marks the id received (durably for a kept
    /// session) before the message is acknowledged in Sluice, then PUBREL goes out. A crash in
    /// between delivers the message again, and the pump then finds the id marked and only
    /// acknowledges it.
    /// An MQTT 5 PUBREC with a failure code (0x80 and up) ends the flow instead (§4.3.3): the
    /// message counts as delivered and no PUBREL goes out.
    func deliveryReceived(_ packetId: UInt16, reasonCode: UInt8, client: MQTTConnection.Client) async throws {
        if reasonCode >= 0x80 {
            if let pending = session.acknowledged(packetId) { await front.acknowledge(pending) }
            try await deliveryCompleted(packetId, client: client)
            return
        }
        do throws(BrokerError) {
            try await client.sessions.receivedByClient(client.clientId, packetId: packetId)
        } catch {
            throw MQTTAccessError("storage", "cannot mark QoS 2 delivery \(packetId) received: \(error.message)")
        }
        if let pending = session.acknowledged(packetId) { await front.acknowledge(pending) }
        try await send(.pubrel(packetId: packetId))
    }

    /// PUBCOMP for a QoS 2 delivery: its packet id is free again.
    func deliveryCompleted(_ packetId: UInt16, client: MQTTConnection.Client) async throws {
        do throws(BrokerError) {
            try await client.sessions.completed(client.clientId, packetId: packetId)
        } catch {
            throw MQTTAccessError("storage", "cannot complete QoS 2 delivery \(packetId): \(error.message)")
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
            throw MQTTAccessError("forbidden", error.message, reasonCode: MQTTReasonCode.notAuthorized, fatal: false)
        }
        if publish.properties.payloadFormatIndicator == 1, String(validating: publish.payload, as: UTF8.self) == nil {
            MQTTAccessMetrics.shared.packet("publish", code: "refused")
            throw MQTTAccessError(
                "refused", "the payload format says UTF-8 but the payload is not", reasonCode: MQTTReasonCode.payloadFormatInvalid,
                fatal: false)
        }
        if publish.retain, publish.payload.isEmpty {
            try await retain(publish)
            return
        }
        var message: Apache_Rocketmq_V2_Message
        do throws(MQTTAccessError) {
            message = try MQTTTopicMapping.wireMessage(
                publish, topic: topic, messageId: front.messageIds.next(), clientId: client.clientId,
                nowMs: WallClock.nowMs())
        } catch {
            MQTTAccessMetrics.shared.packet("publish", code: "refused")
            throw error
        }
        do throws(FrontRefusal) {
            let definition = try await front.service.topicChecked(topic)
            message.topic.name = definition.name
            var request = Apache_Rocketmq_V2_SendMessageRequest()
            request.messages = [message]
            _ = try await front.service.sendChecked(request, clientId: MQTTFront.serviceClientId)
        } catch {
            MQTTAccessMetrics.shared.packet("publish", code: "refused")
            throw MQTTAccessError(
                "refused", "publish to \(topic.prefix(64)) refused: \(error.message)", reasonCode: Self.reasonCode(error.code),
                fatal: false)
        }
        if publish.retain { try await retain(publish) }
    }

    /// The MQTT 5 reason code for the broker's refusal of a publish.
    static func reasonCode(_ code: Apache_Rocketmq_V2_Code) -> UInt8 {
        switch code {
        case .topicNotFound: MQTTReasonCode.topicNameInvalid
        case .forbidden, .unauthorized: MQTTReasonCode.notAuthorized
        case .tooManyRequests: MQTTReasonCode.quotaExceeded
        case .messagePropertiesTooLarge, .messageBodyTooLarge: MQTTReasonCode.packetTooLarge
        case .badRequest, .illegalMessagePropertyKey, .illegalMessageTag, .messagePropertyConflictWithType:
            MQTTReasonCode.implementationSpecificError
        default: MQTTReasonCode.unspecifiedError
        }
    }

    private func retain(_ publish: MQTTPublish) async throws(MQTTAccessError) {
        guard let store = front.handle.mqttRetained else {
            throw MQTTAccessError(
                "refused", "retained messages are not open yet (the broker is starting)",
                reasonCode: MQTTReasonCode.serverUnavailable, fatal: false)
        }
        do throws(BrokerError) {
            try await store.retain(topic: publish.topic, payload: publish.payload, qos: publish.qos.rawValue)
        } catch {
            MQTTAccessMetrics.shared.packet("publish", code: "retain_refused")
            throw MQTTAccessError(
                "refused", "retaining on \(publish.topic.prefix(64)) refused: \(error)", fatal: false)
        }
    }

    /// Publishes the client's last will after a connection ended without DISCONNECT (§3.1.2.5):
    /// a protocol error, keep-alive silence, a takeover or the network (or an MQTT 5 DISCONNECT
    /// 0x04). Stored once, so it keeps its QoS. Nobody is left to tell of a refusal, so it is
    /// logged and counted.
    func publishWill(_ will: MQTTConnect.Will, client: MQTTConnection.Client) async {
        let publish = MQTTPublish(
            topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
            properties: MQTTPropertyMapping.publishProperties(ofWill: will.properties))
        do throws(MQTTAccessError) {
            try await append(publish, client: client, call: "MQTT will")
            MQTTAccessMetrics.shared.packet("will")
        } catch {
            front.logger.info(
                "MQTT last will not published", metadata: ["mqtt.client": "\(client.clientId)", "error": "\(error)"])
        }
    }
}
