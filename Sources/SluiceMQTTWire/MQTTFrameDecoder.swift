/// Splits a byte stream into packets: holds at most one packet's bytes (bounded by
/// `maxPacketBytes`), so a client cannot make the server buffer more than that.
public struct MQTTFrameDecoder: Sendable {
    public let maxPacketBytes: Int

    public init(maxPacketBytes: Int) {
        self.maxPacketBytes = max(2, maxPacketBytes)
    }

    /// The first whole packet in `bytes` and how many bytes it used, nil while incomplete.
    public func decode(_ bytes: [UInt8]) throws(MQTTWireError) -> (packet: MQTTPacket, consumed: Int)? {
        guard let header = try MQTTFixedHeader.parse(bytes, maxPacketBytes: maxPacketBytes) else { return nil }
        guard bytes.count >= header.packetLength else { return nil }
        let body = Array(bytes[header.headerLength..<header.packetLength])
        return (try MQTTPacket.decode(typeAndFlags: header.typeAndFlags, body: body), header.packetLength)
    }
}
