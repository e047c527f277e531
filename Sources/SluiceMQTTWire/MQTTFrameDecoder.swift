/// Splits a byte stream into packets: holds at most one packet's bytes (bounded by
/// `maxPacketBytes`), so a client cannot make the server buffer more than that.
public struct MQTTFrameDecoder: Sendable {
    public let maxPacketBytes: Int
    /// The layout of every packet but CONNECT (which says its own).
    public var version: MQTTVersion

    public init(maxPacketBytes: Int, version: MQTTVersion = .v311) {
        self.maxPacketBytes = max(2, maxPacketBytes)
        self.version = version
    }

    /// The first whole packet in `bytes` and how many bytes it used, nil while incomplete.
    public func decode(_ bytes: [UInt8]) throws(MQTTWireError) -> (packet: MQTTPacket, consumed: Int)? {
        guard let header = try MQTTFixedHeader.parse(bytes, maxPacketBytes: maxPacketBytes) else { return nil }
        guard bytes.count >= header.packetLength else { return nil }
        let body = Array(bytes[header.headerLength..<header.packetLength])
        let packet = try MQTTPacket.decode(typeAndFlags: header.typeAndFlags, body: body, version: version)
        return (packet, header.packetLength)
    }

    /// Like `decode`, and a CONNECT sets the version of the packets after it, as on a connection.
    public mutating func next(_ bytes: [UInt8]) throws(MQTTWireError) -> (packet: MQTTPacket, consumed: Int)? {
        guard let decoded = try decode(bytes) else { return nil }
        if case .connect(let connect) = decoded.packet, let version = connect.version { self.version = version }
        return decoded
    }
}
