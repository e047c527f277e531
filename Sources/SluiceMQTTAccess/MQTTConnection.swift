import Logging
import NIOCore
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage

/// One client connection after its channel is set up: CONNECT, then packets in order until
/// DISCONNECT, an error, keep-alive silence or shutdown. Publishes are handled one at a time in
/// arrival order (the PUBACK follows the store's acknowledgement); subscriptions run as pumps
/// in the connection's task group, so they end with it. The CONNECT's protocol level (4 or 5)
/// sets the layout of every packet after it (`MQTTSessionState.negotiated`).
struct MQTTConnection: Sendable {
    let front: MQTTFront
    let channel: any Channel
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let session: MQTTSessionState

    /// Sends `packet` in the connection's version; false when it is over the MQTT 5 client's
    /// maximum packet size, in which case it is dropped unsent (§3.1.2.11.4).
    @discardableResult
    func send(_ packet: MQTTPacket) async throws -> Bool {
        let negotiated = session.negotiated
        let bytes = packet.encode(version: negotiated.version)
        guard bytes.count <= negotiated.clientMaxPacketBytes else {
            MQTTAccessMetrics.shared.packet("send", code: "over_client_maximum")
            return false
        }
        try await outbound.write(ByteBuffer(bytes: bytes))
        return true
    }

    /// Whether `packet` is within the client's maximum packet size.
    func fits(_ packet: MQTTPacket) -> Bool {
        let negotiated = session.negotiated
        return negotiated.clientMaxPacketBytes == .max
            || packet.encode(version: negotiated.version).count <= negotiated.clientMaxPacketBytes
    }

    /// Tells an MQTT 5 client why its connection ends (§4.13), then closes it; not awaited, so
    /// a client that reads nothing cannot hold the close up.
    static func disconnect(_ channel: any Channel, reasonCode: UInt8) {
        let bytes = MQTTPacket.disconnect(reasonCode: reasonCode).encode(version: .v5)
        channel.writeAndFlush(ByteBuffer(bytes: bytes)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Runs the connection to its end; the caller closes the channel, then awaits what this
    /// returns: an MQTT 5 will waiting out its delay, if any.
    func run(_ inbound: NIOAsyncChannelInboundStream<MQTTPacket>) async -> (@Sendable () async -> Void)? {
        let logger = front.logger
        var clientId = ""
        var outcome = "closed"
        var client: Client?
        /// DISCONNECT came, and it did not ask for the will (MQTT 5 reason 0x04).
        var willDiscarded = false
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
                front.registry.register(clientId: clientId, channel: channel, version: accepted.version)
                MQTTAccessMetrics.shared.connection("accepted")
                // A resumed session's subscriptions run again (checked again for this user).
                // Its own group's deliveries still unanswered (from an earlier connection, or
                // claimed before a crash) are due again at once, so they come first, with DUP.
                let ownGroup = MQTTTopicMapping.group(ofClient: accepted.clientId)
                for (filter, options) in accepted.resumed.sorted(by: { $0.key < $1.key }) {
                    guard var subscription = MQTTSubscription(filter: filter, options: options) else { continue }
                    subscription.identifier = accepted.resumedIdentifiers[filter]
                    let (_, newPump) = await subscribe(subscription, client: accepted, resuming: true)
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
                    if case .disconnect(let reasonCode, let properties) = packet {
                        MQTTAccessMetrics.shared.packet("disconnect")
                        if let expiry = properties.sessionExpiryInterval {
                            // §3.14.2.2.2: a session that was to end may not be kept now.
                            if accepted.sessionExpiry == 0, expiry != 0 {
                                throw MQTTAccessError.protocolError("DISCONNECT sets a session expiry after CONNECT set 0")
                            }
                            client?.sessionExpiry = Client.expiry(expiry)
                        }
                        willDiscarded = reasonCode != MQTTReasonCode.disconnectWithWill
                        break
                    }
                    try await handle(packet, client: accepted, group: &group)
                }
            } catch let error as MQTTWireError {
                outcome = "protocol_error"
                logger.debug("MQTT connection closed on a malformed packet", metadata: ["error": "\(error)"])
                await sayWhy(error.reasonCode, error.description, connected: client != nil)
            } catch let error as MQTTAccessError {
                outcome = error.code
                logger.debug("MQTT connection closed", metadata: ["error": "\(error)", "mqtt.client": "\(clientId)"])
                await sayWhy(error.reasonCode, error.message, connected: client != nil)
            } catch {
                // The channel closed under us (keep-alive, takeover, the client went away).
            }
            group.cancelAll()
        }
        MQTTAccessMetrics.shared.connection(outcome)
        guard let client else { return nil }
        let wasLast = front.registry.unregister(clientId: clientId, channel: channel)
        // Not when a newer connection took the id over: that one has the session now.
        if wasLast { await endConnection(of: client) }
        // DISCONNECT discards the will (§3.14.4) unless it says 0x04; any other end publishes it.
        guard let will = client.will, !willDiscarded else { return nil }
        let delay = min(will.properties.willDelayInterval ?? 0, client.sessionExpiry ?? .max)
        guard delay > 0 else {
            await publishWill(will, client: client)
            return nil
        }
        // A newer connection with the id came already: the will is not sent (§3.1.3.2.2).
        guard wasLast else { return nil }
        let token = front.registry.holdWill(clientId: clientId)
        return { [self] in
            try? await Task.sleep(for: .seconds(Int64(delay)))
            guard !Task.isCancelled, front.registry.takeWill(clientId: client.clientId, token: token) else { return }
            await publishWill(will, client: client)
        }
    }

    /// A session whose expiry is 0 ends with its connection (§3.1.2.4, MQTT 5 §3.1.2.11.2): its
    /// own group goes, so client ids (server-assigned ones above all) do not pile up groups
    /// toward --max-groups. A kept one with an expiry starts counting down.
    private func endConnection(of client: Client) async {
        if client.sessionExpiry == 0 {
            await front.endSession(client.clientId, sessions: client.sessions)
        } else if client.version == .v5 {
            do throws(BrokerError) {
                try await client.sessions.disconnected(client.clientId, expirySeconds: client.sessionExpiry)
            } catch {
                front.logger.info("MQTT session end not stored", metadata: ["mqtt.client": "\(client.clientId)", "error": "\(error)"])
            }
        }
    }

    /// An MQTT 5 client is told why the server ends the connection (§4.13); MQTT 3.1.1 has no
    /// way to say it.
    private func sayWhy(_ reasonCode: UInt8, _ message: String, connected: Bool) async {
        guard connected, session.version == .v5 else { return }
        _ = try? await send(.disconnect(reasonCode: reasonCode, properties: problem(message)))
    }

    /// Closes the channel once the client has been silent past the limit (CONNECT timeout
    /// first, then 1.5 times its keep-alive); an MQTT 5 client hears 0x8D first.
    private func watchKeepAlive() async {
        while !Task.isCancelled {
            let left = session.silenceLeft() ?? .seconds(1)
            if left == .zero {
                MQTTAccessMetrics.shared.connection("keep_alive_expired")
                if session.version == .v5 {
                    Self.disconnect(channel, reasonCode: MQTTReasonCode.keepAliveTimeout)
                } else {
                    channel.close(promise: nil)
                }
                return
            }
            try? await Task.sleep(for: min(max(left, .milliseconds(50)), .seconds(1)))
        }
    }

    struct Client: Sendable {
        var clientId: String
        var version: MQTTVersion
        /// The Sluice user (nil with `--auth off`).
        var accessKey: String?
        /// Seconds the session outlives the connection: 0 ends it with the connection (MQTT
        /// 3.1.1 clean session 1), nil never (clean session 0, or MQTT 5 0xFFFFFFFF).
        var sessionExpiry: UInt32?
        /// Published if the connection ends without DISCONNECT (or with MQTT 5's 0x04).
        var will: MQTTConnect.Will?
        /// A kept session's stored subscriptions (filter → options byte), resumed after CONNACK.
        var resumed: [String: UInt8] = [:]
        /// Their MQTT 5 subscription identifiers.
        var resumedIdentifiers: [String: Int] = [:]
        /// Where the session lives (`handle.mqttSessions`): filters and QoS 2 packet ids.
        var sessions: MQTTSessionStore

        /// An MQTT 5 session expiry interval as `sessionExpiry`.
        static func expiry(_ interval: UInt32) -> UInt32? { interval == .max ? nil : interval }
    }

    /// One packet after CONNECT but DISCONNECT.
    private func handle(_ packet: MQTTPacket, client: Client, group: inout DiscardingTaskGroup) async throws {
        switch packet {
        case .publish(let publish):
            try await self.publish(publish, client: client)
        case .puback(let packetId, _, _):
            // Any reason code: the message counts as delivered (§4.3.2).
            MQTTAccessMetrics.shared.packet("puback")
            if let pending = session.acknowledged(packetId) {
                await front.acknowledge(pending)
            }
        case .pubrec(let packetId, let reasonCode, _):
            MQTTAccessMetrics.shared.packet("pubrec")
            try await deliveryReceived(packetId, reasonCode: reasonCode, client: client)
        case .pubrel(let packetId, _, _):
            MQTTAccessMetrics.shared.packet("pubrel")
            try await release(packetId, client: client)
        case .pubcomp(let packetId, _, _):
            MQTTAccessMetrics.shared.packet("pubcomp")
            try await deliveryCompleted(packetId, client: client)
        case .subscribe(let packetId, let subscriptions, let properties):
            try await subscribe(packetId: packetId, subscriptions, properties: properties, client: client, group: &group)
        case .unsubscribe(let packetId, let filters, _):
            MQTTAccessMetrics.shared.packet("unsubscribe")
            var codes: [UInt8] = []
            for filter in filters {
                let held = session.unsubscribe(filter)
                codes.append(held ? MQTTReasonCode.success : MQTTReasonCode.noSubscriptionExisted)
                do throws(BrokerError) {
                    try await client.sessions.unsubscribed(client.clientId, filter: filter)
                } catch {
                    throw MQTTAccessError("storage", "cannot drop the subscription: \(error.message)")
                }
            }
            try await send(.unsuback(packetId: packetId, reasonCodes: codes))
        case .pingreq:
            MQTTAccessMetrics.shared.packet("pingreq")
            try await send(.pingresp)
        case .disconnect:
            // The caller's loop takes DISCONNECT.
            break
        case .auth:
            // No authentication method was accepted at CONNECT, so AUTH has no place (§4.12).
            throw MQTTAccessError.protocolError("AUTH without an authentication method")
        case .connect:
            throw MQTTAccessError.protocolError("a second CONNECT")
        case .connack, .suback, .unsuback, .pingresp:
            throw MQTTAccessError.protocolError("a client may not send \(packet)")
        }
    }
}
