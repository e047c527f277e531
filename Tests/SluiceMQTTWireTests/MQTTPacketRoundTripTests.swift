import Testing

@testable import SluiceMQTTWire

@Suite("MQTT packets: encode then decode gives the same packet")
struct MQTTPacketRoundTripTests {
    static let decoder = MQTTFrameDecoder(maxPacketBytes: 1 << 20)

    static func roundTrip(_ packet: MQTTPacket) throws -> MQTTPacket? {
        let bytes = packet.encode()
        let decoded = try decoder.decode(bytes)
        #expect(decoded?.consumed == bytes.count)
        return decoded?.packet
    }

    @Test(
        "every packet type",
        arguments: [
            MQTTPacket.connect(MQTTConnect(clientId: "device-1", keepAlive: 30)),
            .connect(MQTTConnect(
                clientId: "", cleanSession: false, keepAlive: 0,
                will: .init(topic: "a/b", payload: [1, 2], qos: .atLeastOnce, retain: true), username: "u",
                password: [0xFF, 0])),
            .connack(sessionPresent: false, returnCode: MQTTConnectReturnCode.accepted.rawValue),
            .connack(sessionPresent: true, returnCode: MQTTConnectReturnCode.notAuthorized.rawValue),
            .publish(MQTTPublish(topic: "sensors/t1", payload: Array("21.5".utf8))),
            .publish(MQTTPublish(topic: "s/é", payload: [], qos: .atLeastOnce, retain: true, dup: true, packetId: 65535)),
            .puback(packetId: 7),
            .pubrec(packetId: 8),
            .pubrel(packetId: 9),
            .pubcomp(packetId: 65_535),
            .publish(MQTTPublish(topic: "q/2", payload: [2], qos: .exactlyOnce, dup: true, packetId: 12)),
            .subscribe(packetId: 1, subscriptions: [.init(filter: "a/+/c", qos: .atLeastOnce), .init(filter: "#", qos: .atMostOnce)]),
            .suback(packetId: 1, returnCodes: [1, 0x80]),
            .unsubscribe(packetId: 2, filters: ["a/#"]),
            .unsuback(packetId: 2),
            .pingreq, .pingresp, .disconnect(),
        ])
    func roundTrip(_ packet: MQTTPacket) throws {
        #expect(try Self.roundTrip(packet) == packet)
    }

    @Test("a payload over 127 bytes takes a 2-byte length; 16,384 a 3-byte one")
    func longLengths() throws {
        for size in [127, 128, 16_383, 16_384, 200_000] {
            let packet = MQTTPacket.publish(MQTTPublish(topic: "t", payload: Array(repeating: 7, count: size)))
            #expect(try Self.roundTrip(packet) == packet)
        }
    }

    @Test("bytes arriving one at a time decode once whole, and two packets in one read decode in turn")
    func streaming() throws {
        let bytes = MQTTPacket.puback(packetId: 9).encode() + MQTTPacket.pingreq.encode()
        for end in 0..<4 { #expect(try Self.decoder.decode(Array(bytes[..<end])) == nil) }
        let first = try #require(try Self.decoder.decode(bytes))
        #expect(first.packet == .puback(packetId: 9))
        #expect(try Self.decoder.decode(Array(bytes[first.consumed...]))?.packet == .pingreq)
    }
}
