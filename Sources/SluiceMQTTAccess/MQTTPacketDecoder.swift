import NIOCore
import SluiceMQTTWire

/// Frames and decodes MQTT packets on a connection. It reads the fixed header first and refuses
/// a packet over the maximum size before buffering its body, so one connection holds at most
/// one packet's bytes. Any `MQTTWireError` ends the connection (the stream throws it). The
/// CONNECT's protocol level sets how every later packet is read (MQTT 3.1.1 or 5).
struct MQTTPacketDecoder: ByteToMessageDecoder {
    typealias InboundOut = MQTTPacket

    let maxPacketBytes: Int
    private(set) var version: MQTTVersion = .v311

    init(maxPacketBytes: Int) { self.maxPacketBytes = maxPacketBytes }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let header = try MQTTFixedHeader.parse(buffer.readableBytesView, maxPacketBytes: maxPacketBytes),
            buffer.readableBytes >= header.packetLength
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: header.headerLength)
        guard let body = buffer.readBytes(length: header.remainingLength) else { return .needMoreData }
        let packet = try MQTTPacket.decode(typeAndFlags: header.typeAndFlags, body: body, version: version)
        if case .connect(let connect) = packet, let connectVersion = connect.version { version = connectVersion }
        context.fireChannelRead(wrapInboundOut(packet))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // Bytes of a packet cut by the close are dropped: there is nobody left to answer.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
