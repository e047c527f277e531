import NIOCore
import NIOEmbedded
import SluiceMQTTWire
import Testing

@testable import SluiceMQTTAccess

@Suite("MQTT framing on a channel: split reads, oversize headers, malformed bytes")
struct MQTTPacketDecoderTests {
    func channel(maxPacketBytes: Int = 1024) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder(maxPacketBytes: maxPacketBytes)))
        return channel
    }

    @Test("a packet split over reads comes out once, whole; two in one read come out in turn")
    func splitReads() throws {
        let channel = try channel()
        let bytes = MQTTPacket.publish(MQTTPublish(topic: "a/b", payload: Array(repeating: 9, count: 300))).encode()
            + MQTTPacket.pingreq.encode()
        for byte in bytes.prefix(10) { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropFirst(10)))
        #expect(try channel.readInbound(as: MQTTPacket.self)
            == .publish(MQTTPublish(topic: "a/b", payload: Array(repeating: 9, count: 300))))
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingreq)
        _ = try channel.finish()
    }

    @Test("a header announcing more than the maximum packet size fails before the body arrives")
    func oversize() throws {
        let channel = try channel(maxPacketBytes: 100)
        #expect(throws: MQTTWireError.self) { try channel.writeInbound(ByteBuffer(bytes: [0x30, 0xFF, 0x7F])) }
        _ = try? channel.finish()
    }

    @Test("malformed bytes are a typed error")
    func malformed() throws {
        let channel = try channel()
        #expect(throws: MQTTWireError.self) { try channel.writeInbound(ByteBuffer(bytes: [0x00, 0x00])) }
        _ = try? channel.finish()
    }

    @Test("a level-5 CONNECT switches the channel to MQTT 5; a level-4 one keeps MQTT 3.1.1")
    func versionFromConnect() throws {
        let v5 = try channel()
        try v5.writeInbound(ByteBuffer(bytes: MQTTPacket.connect(MQTTConnect(protocolLevel: 5, clientId: "c")).encode()))
        _ = try v5.readInbound(as: MQTTPacket.self)
        var properties = MQTTProperties()
        properties.topicAlias = 2
        let publish = MQTTPacket.publish(MQTTPublish(topic: "", payload: [1], properties: properties))
        try v5.writeInbound(ByteBuffer(bytes: publish.encode(version: .v5) + MQTTPacket.auth().encode(version: .v5)))
        #expect(try v5.readInbound(as: MQTTPacket.self) == publish)
        #expect(try v5.readInbound(as: MQTTPacket.self) == .auth())
        _ = try v5.finish()

        let v311 = try channel()
        try v311.writeInbound(ByteBuffer(bytes: MQTTPacket.connect(MQTTConnect(clientId: "c")).encode()))
        _ = try v311.readInbound(as: MQTTPacket.self)
        // The same PUBACK bytes: MQTT 3.1.1 has no reason code, so the third byte is left over.
        #expect(throws: MQTTWireError.self) {
            try v311.writeInbound(ByteBuffer(bytes: MQTTPacket.puback(packetId: 1, reasonCode: 0x10).encode(version: .v5)))
        }
        _ = try? v311.finish()
    }
}
