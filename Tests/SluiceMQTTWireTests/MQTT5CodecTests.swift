import Testing

@testable import SluiceMQTTWire

@Suite("MQTT 5 packets: properties and reason codes encode and decode")
struct MQTT5CodecTests {
    static let decoder = MQTTFrameDecoder(maxPacketBytes: 1 << 20, version: .v5)

    static func roundTrip(_ packet: MQTTPacket) throws -> MQTTPacket? {
        let bytes = packet.encode(version: .v5)
        let decoded = try decoder.decode(bytes)
        #expect(decoded?.consumed == bytes.count)
        return decoded?.packet
    }

    static var everyPublishProperty: MQTTProperties {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = 1
        properties.messageExpiryInterval = 0xFFFF_FFFF
        properties.contentType = "application/json"
        properties.responseTopic = "replies/1"
        properties.correlationData = [0, 1, 0xFF]
        properties.subscriptionIdentifiers = [1, 268_435_455]
        properties.topicAlias = 3
        properties.userProperties = [MQTTUserProperty("k", "v"), MQTTUserProperty("k", "w"), MQTTUserProperty("", "")]
        return properties
    }

    static var everyConnackProperty: MQTTProperties {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 0xFFFF_FFFF
        properties.assignedClientIdentifier = "auto-1"
        properties.serverKeepAlive = 10
        properties.authenticationMethod = "m"
        properties.authenticationData = [1]
        properties.responseInformation = "r"
        properties.serverReference = "other:1883"
        properties.reasonString = "why"
        properties.receiveMaximum = 65_535
        properties.topicAliasMaximum = 64
        properties.maximumQoS = 1
        properties.retainAvailable = 0
        properties.maximumPacketSize = 0xFFFF_FFFF
        properties.wildcardSubscriptionAvailable = 1
        properties.subscriptionIdentifiersAvailable = 0
        properties.sharedSubscriptionAvailable = 1
        properties.userProperties = [MQTTUserProperty("a", "b")]
        return properties
    }

    static var connect: MQTTConnect {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 120
        properties.receiveMaximum = 5
        properties.maximumPacketSize = 1024
        properties.topicAliasMaximum = 2
        properties.requestProblemInformation = 0
        properties.requestResponseInformation = 1
        properties.userProperties = [MQTTUserProperty("app", "x")]
        var willProperties = MQTTProperties()
        willProperties.willDelayInterval = 5
        willProperties.messageExpiryInterval = 60
        willProperties.contentType = "text/plain"
        willProperties.payloadFormatIndicator = 1
        return MQTTConnect(
            protocolLevel: 5, clientId: "", cleanSession: false, keepAlive: 30,
            will: .init(topic: "w/t", payload: [9], qos: .exactlyOnce, retain: true, properties: willProperties),
            password: [1, 2], properties: properties)
    }

    @Test(
        "every packet type with properties",
        arguments: [
            MQTTPacket.connect(connect),
            .connect(MQTTConnect(protocolLevel: 5, clientId: "plain")),
            .connack(sessionPresent: true, returnCode: 0, properties: everyConnackProperty),
            .connack(sessionPresent: false, returnCode: MQTTReasonCode.badAuthenticationMethod),
            .publish(MQTTPublish(topic: "a/b", payload: [1], qos: .atLeastOnce, packetId: 4, properties: everyPublishProperty)),
            .publish(MQTTPublish(topic: "", payload: [], qos: .atMostOnce, properties: everyPublishProperty)),
            .publish(MQTTPublish(topic: "a", payload: Array(repeating: 1, count: 300))),
            .puback(packetId: 7),
            .puback(packetId: 7, reasonCode: MQTTReasonCode.topicNameInvalid),
            .pubrec(packetId: 8, reasonCode: MQTTReasonCode.notAuthorized, properties: {
                var p = MQTTProperties()
                p.reasonString = "no"
                return p
            }()),
            .pubrel(packetId: 9, reasonCode: MQTTReasonCode.packetIdentifierNotFound),
            .pubcomp(packetId: 65_535),
            .subscribe(
                packetId: 1,
                subscriptions: [
                    .init(filter: "a/+", qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: 2),
                    .init(filter: "#", qos: .atMostOnce, retainHandling: 1),
                ],
                properties: {
                    var p = MQTTProperties()
                    p.subscriptionIdentifiers = [42]
                    p.userProperties = [MQTTUserProperty("s", "t")]
                    return p
                }()),
            .suback(packetId: 1, returnCodes: [2, 0x87, 0x8F, 0x97, 0xA1]),
            .unsubscribe(packetId: 2, filters: ["a/#", "b"]),
            .unsuback(packetId: 2, reasonCodes: [0, 0x11]),
            .pingreq, .pingresp,
            .disconnect(),
            .disconnect(reasonCode: MQTTReasonCode.disconnectWithWill),
            .disconnect(reasonCode: 0, properties: {
                var p = MQTTProperties()
                p.sessionExpiryInterval = 0
                return p
            }()),
            .auth(reasonCode: 0x18),
        ])
    func roundTrip(_ packet: MQTTPacket) throws {
        #expect(try Self.roundTrip(packet) == packet)
    }

    @Test("MQTT 3.1.1 leaves reason codes and properties out; its CONNECT has none")
    func v311Layout() throws {
        #expect(MQTTPacket.puback(packetId: 1, reasonCode: 0x90).encode() == [0x40, 2, 0, 1])
        #expect(MQTTPacket.disconnect(reasonCode: 0x81).encode() == [0xE0, 0])
        #expect(MQTTPacket.connack(sessionPresent: false, returnCode: 0, properties: Self.everyConnackProperty).encode()
            == [0x20, 2, 0, 0])
        // The same packet under MQTT 5: success with no properties is the short form.
        #expect(MQTTPacket.puback(packetId: 1).encode(version: .v5) == [0x40, 2, 0, 1])
        #expect(MQTTPacket.puback(packetId: 1, reasonCode: 0x90).encode(version: .v5) == [0x40, 3, 0, 1, 0x90])
        #expect(MQTTPacket.disconnect().encode(version: .v5) == [0xE0, 0])
        #expect(MQTTPacket.connack(sessionPresent: true, returnCode: 0).encode(version: .v5) == [0x20, 3, 1, 0, 0])
    }

    @Test("the frame decoder takes the version from CONNECT")
    func versionFromConnect() throws {
        var decoder = MQTTFrameDecoder(maxPacketBytes: 1024)
        let connect = MQTTPacket.connect(MQTTConnect(protocolLevel: 5, clientId: "c")).encode()
        _ = try decoder.next(connect)
        #expect(decoder.version == .v5)
        let puback = MQTTPacket.puback(packetId: 3, reasonCode: 0x10).encode(version: .v5)
        #expect(try decoder.next(puback)?.packet == .puback(packetId: 3, reasonCode: 0x10))
    }

    @Test("a session expiry of 0xFFFFFFFF and the largest variable byte integer survive")
    func edgeValues() throws {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 0xFFFF_FFFF
        let packet = MQTTPacket.disconnect(reasonCode: 0, properties: properties)
        #expect(try Self.roundTrip(packet) == packet)
        let bytes = packet.encode(version: .v5)
        #expect(Array(bytes.suffix(4)) == [0xFF, 0xFF, 0xFF, 0xFF])
        var subscribe = MQTTProperties()
        subscribe.subscriptionIdentifiers = [268_435_455]
        var body: [UInt8] = []
        subscribe.encode(into: &body)
        #expect(body == [5, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F])
    }
}
