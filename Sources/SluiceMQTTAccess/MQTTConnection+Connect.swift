import Logging
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import SluiceStorage

/// CONNECT and its CONNACK, for MQTT 3.1.1 (return codes) and MQTT 5 (reason codes and
/// properties). An MQTT 5 session lasts its session expiry interval past the connection; an
/// MQTT 3.1.1 one ends with it (clean session 1) or never (clean session 0).
extension MQTTConnection {
    /// The CONNACK of a refused CONNECT: the MQTT 3.1.1 return code or the MQTT 5 reason code.
    private func refuse(_ v311: MQTTConnectReturnCode, _ v5: UInt8, version: MQTTVersion) async throws {
        let code = version == .v5 ? v5 : v311.rawValue
        try await send(.connack(sessionPresent: false, returnCode: code))
    }

    /// Answers CONNECT; nil when it was refused (the CONNACK is sent, the caller closes).
    func connect(_ connect: MQTTConnect) async throws -> Client? {
        MQTTAccessMetrics.shared.packet("connect")
        guard let version = connect.version else {
            // Levels other than 4 and 5 hear MQTT 3.1.1's answer (§3.1.2.2 of both versions).
            try await send(.connack(sessionPresent: false, returnCode: MQTTConnectReturnCode.unacceptableProtocolVersion.rawValue))
            return nil
        }
        let properties = connect.properties
        var negotiated = MQTTSessionState.Negotiated(version: version)
        if let maximum = properties.maximumPacketSize { negotiated.clientMaxPacketBytes = Int(maximum) }
        negotiated.problemInformation = properties.requestProblemInformation != 0
        // Refusals go out in the client's version, within its maximum packet size.
        session.negotiate(negotiated, receiveMaximum: properties.receiveMaximum)
        if properties.authenticationMethod != nil {
            // Sluice offers no extended authentication (§4.12): user name and password only.
            try await refuse(.notAuthorized, MQTTReasonCode.badAuthenticationMethod, version: version)
            return nil
        }
        var clientId = connect.clientId
        var assigned: String?
        if clientId.isEmpty {
            // §3.1.3.1: a server may assign an id; MQTT 3.1.1 only to a clean session.
            guard connect.cleanSession || version == .v5 else {
                try await refuse(.identifierRejected, MQTTReasonCode.clientIdentifierNotValid, version: version)
                return nil
            }
            clientId = "auto-" + String(UInt64.random(in: .min ... .max), radix: 16)
            assigned = clientId
        }
        guard MQTTTopicMapping.group(ofClient: clientId) != nil else {
            try await refuse(.identifierRejected, MQTTReasonCode.clientIdentifierNotValid, version: version)
            return nil
        }
        let accessKey: String?
        do throws(AccessDenial) {
            accessKey = try front.access.authenticatePassword(accessKey: connect.username, password: connect.password)
        } catch {
            await front.access.record(error, call: "MQTT CONNECT", client: "mqtt")
            if error.isAuthentication {
                try await refuse(.badUsernameOrPassword, MQTTReasonCode.badUserNameOrPassword, version: version)
            } else {
                try await refuse(.notAuthorized, MQTTReasonCode.notAuthorized, version: version)
            }
            return nil
        }
        guard let sessions = front.handle.mqttSessions else {
            // The store is not open yet (the broker is starting) or closing.
            try await refuse(.serverUnavailable, MQTTReasonCode.serverUnavailable, version: version)
            return nil
        }
        let expiry: UInt32? =
            version == .v5
            ? Client.expiry(properties.sessionExpiryInterval ?? 0) : (connect.cleanSession ? 0 : nil)
        // A session past its expiry is gone before anything looks at it, its group with it.
        if sessions.session(clientId)?.hasExpired(nowMs: WallClock.nowMs()) == true {
            await front.endSession(clientId, sessions: sessions)
        }
        var resumed: [String: UInt8] = [:]
        var resumedIdentifiers: [String: Int] = [:]
        var sessionPresent = false
        let opened: MQTTSessionStore.Opened
        do throws(BrokerError) {
            opened = try await sessions.open(clientId, cleanStart: connect.cleanSession, expirySeconds: expiry)
        } catch {
            front.logger.info("MQTT session not opened", metadata: ["mqtt.client": "\(clientId)", "error": "\(error)"])
            try await refuse(.serverUnavailable, MQTTReasonCode.serverUnavailable, version: version)
            return nil
        }
        switch opened {
        case .resumed(let stored):
            resumed = stored.filters
            resumedIdentifiers = stored.identifiers
            sessionPresent = true
        case .new: break
        case .full:
            try await refuse(.serverUnavailable, MQTTReasonCode.quotaExceeded, version: version)
            return nil
        }
        session.setKeepAlive(seconds: connect.keepAlive)
        try await send(.connack(sessionPresent: sessionPresent, returnCode: 0, properties: connackProperties(assigned: assigned)))
        return Client(
            clientId: clientId, version: version, accessKey: accessKey, sessionExpiry: expiry, will: connect.will,
            resumed: resumed, resumedIdentifiers: resumedIdentifiers, sessions: sessions)
    }

    /// What Sluice tells an MQTT 5 client it may do (§3.2.2.3); MQTT 3.1.1 sends none.
    private func connackProperties(assigned: String?) -> MQTTProperties {
        var properties = MQTTProperties()
        properties.assignedClientIdentifier = assigned
        properties.receiveMaximum = UInt16(clamping: front.limits.maxInflightPerConnection)
        properties.maximumPacketSize = UInt32(clamping: front.limits.maxPacketBytes)
        properties.topicAliasMaximum = MQTTSessionState.topicAliasMaximum
        properties.retainAvailable = 1
        properties.wildcardSubscriptionAvailable = 1
        properties.subscriptionIdentifiersAvailable = 1
        properties.sharedSubscriptionAvailable = 1
        return properties
    }
}
