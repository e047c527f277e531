import NIOCore
import SluiceMQTTWire

/// Frames and decodes MQTT packets on a connection. It reads the fixed header first and refuses
/// a packet over the maximum size before buffering its body, so one connection holds at most
/// one packet's bytes. Any `MQTTWireError` ends the connection (the stream throws it).
struct MQTTPacketDecoder: ByteToMessageDecoder {
    typealias InboundOut = MQTTPacket

    let maxPacketBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let header = try MQTTFixedHeader.parse(buffer.readableBytesView, maxPacketBytes: maxPacketBytes),
            buffer.readableBytes >= header.packetLength
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: header.headerLength)
        guard let body = buffer.readBytes(length: header.remainingLength) else { return .needMoreData }
        let packet = try MQTTPacket.decode(typeAndFlags: header.typeAndFlags, body: body)
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
