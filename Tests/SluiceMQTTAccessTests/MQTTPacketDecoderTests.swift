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
}
