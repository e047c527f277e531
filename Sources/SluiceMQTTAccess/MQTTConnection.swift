import Logging
import NIOCore
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage

/// One client connection after its channel is set up: CONNECT, then packets in order until
/// DISCONNECT, an error, keep-alive silence or shutdown. Publishes are handled one at a time in
/// arrival order (the PUBACK follows the store's acknowledgement); subscriptions run as pumps
/// in the connection's task group, so they end with it.
struct MQTTConnection: Sendable {
    let front: MQTTFront
    let channel: any Channel
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let session: MQTTSessionState

    func send(_ packet: MQTTPacket) async throws {
        try await outbound.write(ByteBuffer(bytes: packet.encode()))
    }

    /// Runs the connection to its end; the caller closes the channel.
    func run(_ inbound: NIOAsyncChannelInboundStream<MQTTPacket>) async {
        let logger = front.logger
        var clientId = ""
        var outcome = "closed"
        var client: Client?
        var disconnected = false
        await withDiscardingTaskGroup { group in
            group.addTask { await watchKeepAlive() }
            do {
                var packets = inbound.makeAsyncIterator()
                guard case .connect(let connect)? = try await packets.next() else {
                    throw MQTTAccessError("protocol_error", "the first packet is not CONNECT")
                }
                session.heard()
                guard let accepted = try await self.connect(connect) else {
                    outcome = "refused_credentials"
                    group.cancelAll()
                    return
                }
                clientId = accepted.clientId
                client = accepted
                front.registry.register(clientId: clientId, channel: channel)
                MQTTAccessMetrics.shared.connection("accepted")
                // A resumed session's subscriptions run again (checked again for this user).
                // Its own group's deliveries still unanswered (from an earlier connection, or
                // claimed before a crash) are due again at once, so they come first, with DUP.
                let ownGroup = MQTTTopicMapping.group(ofClient: accepted.clientId)
                for (filter, qos) in accepted.resumed.sorted(by: { $0.key < $1.key }) {
                    let (_, newPump) = await subscribe(
                        MQTTSubscription(filter: filter, qos: qos), client: accepted, resuming: true)
                    if let newPump {
                        if newPump.group == ownGroup {
                            await trimQueue(newPump)
                            await redeliverInFlight(newPump)
                        }
                        let pump = MQTTPump(connection: self, client: accepted, key: newPump)
                        group.addTask { await pump.run() }
                    }
                }
                // QoS 2 deliveries the client had received (PUBREC) wait for PUBREL again (§4.4).
                let released = accepted.sessions.session(clientId)?.outbound.filter(\.value.released).keys
                for packetId in (released.map(Array.init) ?? []).sorted() {
                    try await send(.pubrel(packetId: packetId))
                }
                while let packet = try await packets.next() {
                    session.heard()
                    if try await handle(packet, client: accepted, group: &group) == false {
                        disconnected = true
                        break
                    }
                }
            } catch let error as MQTTWireError {
                outcome = "protocol_error"
                logger.debug("MQTT connection closed on a malformed packet", metadata: ["error": "\(error)"])
            } catch let error as MQTTAccessError {
                outcome = error.code
                logger.debug("MQTT connection closed", metadata: ["error": "\(error)", "mqtt.client": "\(clientId)"])
            } catch {
                // The channel closed under us (keep-alive, takeover, the client went away).
            }
            group.cancelAll()
        }
        let wasLast = !clientId.isEmpty && front.registry.unregister(clientId: clientId, channel: channel)
        // A clean session's state ends with it (§3.1.2.4): its own group goes, so client ids
        // (server-assigned ones above all) do not pile up groups toward --max-groups. Not when
        // a newer connection took the id over: that one may be using the group already.
        if let client, client.cleanSession, wasLast, let group = MQTTTopicMapping.group(ofClient: client.clientId) {
            do throws(FrontRefusal) {
                try await front.service.deleteGroupChecked(group)
            } catch {
                logger.debug("cannot delete a clean MQTT session's group", metadata: ["group": "\(group)", "error": "\(error.message)"])
            }
            try? await client.sessions.discard(client.clientId)
        }
        // DISCONNECT discards the will (§3.14.4); any other end publishes it.
        if let client, !disconnected, let will = client.will { await publishWill(will, client: client) }
        MQTTAccessMetrics.shared.connection(outcome)
    }

    /// Closes the channel once the client has been silent past the limit (CONNECT timeout
    /// first, then 1.5 times its keep-alive).
    private func watchKeepAlive() async {
        while !Task.isCancelled {
            let left = session.silenceLeft() ?? .seconds(1)
            if left == .zero {
                MQTTAccessMetrics.shared.connection("keep_alive_expired")
                channel.close(promise: nil)
                return
            }
            try? await Task.sleep(for: min(max(left, .milliseconds(50)), .seconds(1)))
        }
    }

    struct Client: Sendable {
        var clientId: String
        /// The Sluice user (nil with `--auth off`).
        var accessKey: String?
        var cleanSession: Bool
        /// Published if the connection ends without DISCONNECT.
        var will: MQTTConnect.Will?
        /// A clean-session-0 client's stored subscriptions, resumed after CONNACK.
        var resumed: [String: MQTTQoS] = [:]
        /// Where the session lives (`handle.mqttSessions`): filters and QoS 2 packet ids.
        var sessions: MQTTSessionStore
    }

    /// Answers CONNECT; nil when it was refused (the CONNACK is sent, the caller closes).
    private func connect(_ connect: MQTTConnect) async throws -> Client? {
        MQTTAccessMetrics.shared.packet("connect")
        guard connect.protocolLevel == 4 else {
            try await send(.connack(sessionPresent: false, returnCode: .unacceptableProtocolVersion))
            return nil
        }
        var clientId = connect.clientId
        if clientId.isEmpty {
            // §3.1.3.1: a server may assign an id, but only to a clean session.
            guard connect.cleanSession else {
                try await send(.connack(sessionPresent: false, returnCode: .identifierRejected))
                return nil
            }
            clientId = "auto-" + String(UInt64.random(in: .min ... .max), radix: 16)
        }
        guard MQTTTopicMapping.group(ofClient: clientId) != nil else {
            try await send(.connack(sessionPresent: false, returnCode: .identifierRejected))
            return nil
        }
        let accessKey: String?
        do throws(AccessDenial) {
            accessKey = try front.access.authenticatePassword(accessKey: connect.username, password: connect.password)
        } catch {
            await front.access.record(error, call: "MQTT CONNECT", client: "mqtt")
            try await send(.connack(
                sessionPresent: false, returnCode: error.isAuthentication ? .badUsernameOrPassword : .notAuthorized))
            return nil
        }
        guard let sessions = front.handle.mqttSessions else {
            // The store is not open yet (the broker is starting) or closing.
            try await send(.connack(sessionPresent: false, returnCode: .serverUnavailable))
            return nil
        }
        var resumed: [String: MQTTQoS] = [:]
        var sessionPresent = false
        let opened: MQTTSessionStore.Opened
        do throws(BrokerError) {
            opened = try await sessions.open(clientId, durable: !connect.cleanSession)
        } catch {
            front.logger.info("MQTT session not opened", metadata: ["mqtt.client": "\(clientId)", "error": "\(error)"])
            try await send(.connack(sessionPresent: false, returnCode: .serverUnavailable))
            return nil
        }
        switch opened {
        case .resumed(let session):
            resumed = session.filters.compactMapValues(MQTTQoS.init(rawValue:))
            sessionPresent = true
        case .new: break
        case .full:
            try await send(.connack(sessionPresent: false, returnCode: .serverUnavailable))
            return nil
        }
        session.setKeepAlive(seconds: connect.keepAlive)
        try await send(.connack(sessionPresent: sessionPresent, returnCode: .accepted))
        return Client(
            clientId: clientId, accessKey: accessKey, cleanSession: connect.cleanSession, will: connect.will,
            resumed: resumed, sessions: sessions)
    }

    /// One packet after CONNECT; false to end the connection normally (DISCONNECT).
    private func handle(_ packet: MQTTPacket, client: Client, group: inout DiscardingTaskGroup) async throws -> Bool {
        switch packet {
        case .publish(let publish):
            try await self.publish(publish, client: client)
        case .puback(let packetId):
            MQTTAccessMetrics.shared.packet("puback")
            if let pending = session.acknowledged(packetId) {
                await front.acknowledge(pending)
            }
        case .pubrec(let packetId):
            MQTTAccessMetrics.shared.packet("pubrec")
            try await deliveryReceived(packetId, client: client)
        case .pubrel(let packetId):
            MQTTAccessMetrics.shared.packet("pubrel")
            try await release(packetId, client: client)
        case .pubcomp(let packetId):
            MQTTAccessMetrics.shared.packet("pubcomp")
            try await deliveryCompleted(packetId, client: client)
        case .subscribe(let packetId, let subscriptions):
            var codes: [UInt8] = []
            for subscription in subscriptions {
                let (code, newPump) = await subscribe(subscription, client: client)
                codes.append(code)
                if code != 0x80 {
                    do throws(BrokerError) {
                        try await client.sessions.subscribed(client.clientId, filter: subscription.filter, qos: code)
                    } catch {
                        throw MQTTAccessError("storage", "cannot keep the subscription: \(error.message)")
                    }
                }
                if let newPump {
                    let pump = MQTTPump(connection: self, client: client, key: newPump)
                    group.addTask { await pump.run() }
                }
            }
            MQTTAccessMetrics.shared.packet("subscribe", code: codes.contains(0x80) ? "refused" : "ok")
            try await send(.suback(packetId: packetId, returnCodes: codes))
            for (subscription, code) in zip(subscriptions, codes) where code != 0x80 {
                try await sendRetained(subscription.filter, granted: MQTTQoS(rawValue: code) ?? .atMostOnce, client: client)
            }
        case .unsubscribe(let packetId, let filters):
            MQTTAccessMetrics.shared.packet("unsubscribe")
            for filter in filters {
                session.unsubscribe(filter)
                do throws(BrokerError) {
                    try await client.sessions.unsubscribed(client.clientId, filter: filter)
                } catch {
                    throw MQTTAccessError("storage", "cannot drop the subscription: \(error.message)")
                }
            }
            try await send(.unsuback(packetId: packetId))
        case .pingreq:
            MQTTAccessMetrics.shared.packet("pingreq")
            try await send(.pingresp)
        case .disconnect:
            MQTTAccessMetrics.shared.packet("disconnect")
            return false
        case .connect:
            throw MQTTAccessError("protocol_error", "a second CONNECT")
        case .connack, .suback, .unsuback, .pingresp:
            throw MQTTAccessError("protocol_error", "a client may not send \(packet)")
        }
        return true
    }
}
