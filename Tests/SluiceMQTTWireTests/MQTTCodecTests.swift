import SluiceMQTTWire
import Testing

@Suite("MQTT codec: packets round-trip through encode and the frame decoder")
struct MQTTCodecTests {
    static let decoder = MQTTFrameDecoder(maxPacketBytes: 1 << 20)

    static let packets: [MQTTPacket] = [
        .connect(MQTTConnect(clientId: "device-1")),
        .connect(
            MQTTConnect(
                clientId: "d", cleanSession: false, keepAlive: 30,
                will: .init(topic: "status/d", payload: [0, 1, 2], qos: .atLeastOnce, retain: true),
                username: "user", password: Array("secret".utf8))),
        .connack(sessionPresent: true, returnCode: MQTTConnectReturnCode.accepted.rawValue),
        .connack(sessionPresent: false, returnCode: MQTTConnectReturnCode.badUsernameOrPassword.rawValue),
        .publish(MQTTPublish(topic: "sensors/room1/temp", payload: Array("21.5".utf8))),
        .publish(MQTTPublish(topic: "a", payload: [], qos: .atLeastOnce, retain: true, dup: true, packetId: 65535)),
        .puback(packetId: 7),
        .pubrec(packetId: 8),
        .pubrel(packetId: 9),
        .pubcomp(packetId: 10),
        .subscribe(packetId: 1, subscriptions: [.init(filter: "a/+/c", qos: .atLeastOnce), .init(filter: "#", qos: .atMostOnce)]),
        .suback(packetId: 1, returnCodes: [1, 0, 0x80]),
        .unsubscribe(packetId: 2, filters: ["a/#"]),
        .unsuback(packetId: 2),
        .pingreq, .pingresp, .disconnect(),
    ]

    @Test("every packet decodes to itself", arguments: packets)
    func roundTrip(_ packet: MQTTPacket) throws {
        let bytes = packet.encode()
        let decoded = try #require(try Self.decoder.decode(bytes))
        #expect(decoded.packet == packet)
        #expect(decoded.consumed == bytes.count)
    }

    @Test("every strict prefix of a packet is 'need more bytes', never an error", arguments: packets)
    func prefixesWait(_ packet: MQTTPacket) throws {
        let bytes = packet.encode()
        for count in 0..<bytes.count {
            #expect(try Self.decoder.decode(Array(bytes.prefix(count))) == nil)
        }
    }

    @Test("two packets in one buffer decode one at a time")
    func twoPackets() throws {
        let bytes = MQTTPacket.pingreq.encode() + MQTTPacket.puback(packetId: 3).encode()
        let first = try #require(try Self.decoder.decode(bytes))
        #expect(first.packet == .pingreq)
        let second = try #require(try Self.decoder.decode(Array(bytes.dropFirst(first.consumed))))
        #expect(second.packet == .puback(packetId: 3))
    }

    @Test(
        "the remaining length is a 1 to 4 byte varint",
        arguments: [(0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
                    (2_097_151, [0xFF, 0xFF, 0x7F]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F])])
    func varint(_ length: Int, _ encoded: [UInt8]) throws {
        let header = try #require(try MQTTFixedHeader.parse([0x30] + encoded, maxPacketBytes: Int.max))
        #expect(header.remainingLength == length)
        #expect(header.headerLength == 1 + encoded.count)
    }

    @Test("the CONNECT of another protocol level decodes, so the server can answer 0x01")
    func otherLevel() throws {
        // Level 6 does not exist (yet): whatever follows the level is not read.
        let body: [UInt8] = [0, 4] + Array("MQTT".utf8) + [6, 0x02, 0, 60, 0, 0, 1, 0x61]
        let decoded = try #require(try Self.decoder.decode([0x10, UInt8(body.count)] + body))
        guard case .connect(let connect) = decoded.packet else {
            Issue.record("not a CONNECT: \(decoded.packet)")
            return
        }
        #expect(connect.protocolLevel == 6)
        #expect(connect.version == nil)
    }
}
