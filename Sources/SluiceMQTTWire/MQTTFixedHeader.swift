/// The fixed header: the type-and-flags byte and the remaining length (a base-128 varint of at
/// most 4 bytes, so at most 268,435,455). Framing reads only this, then waits for the body.
public struct MQTTFixedHeader: Sendable, Equatable {
    public var typeAndFlags: UInt8
    public var remainingLength: Int
    /// 2 to 5 bytes: the first byte and the varint.
    public var headerLength: Int

    /// Total bytes of the packet; no overflow, both parts are small.
    public var packetLength: Int { headerLength + remainingLength }

    /// The header at the start of `bytes`, nil while more bytes are needed.
    /// - Throws: `malformedLength` past 4 length bytes, `tooLarge` over `maxPacketBytes`.
    public static func parse(_ bytes: some Collection<UInt8>, maxPacketBytes: Int) throws(MQTTWireError) -> MQTTFixedHeader? {
        var iterator = bytes.makeIterator()
        guard let first = iterator.next() else { return nil }
        var length = 0
        var shift = 0
        var count = 0
        while true {
            guard let byte = iterator.next() else { return nil }
            count += 1
            length |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            if count == 4 { throw MQTTWireError(.malformedLength, "the remaining length runs past 4 bytes") }
            shift += 7
        }
        let header = MQTTFixedHeader(typeAndFlags: first, remainingLength: length, headerLength: 1 + count)
        if header.packetLength > maxPacketBytes {
            throw MQTTWireError(
                .tooLarge, "the packet is \(header.packetLength) bytes; the limit is \(maxPacketBytes) bytes")
        }
        return header
    }

    /// The varint for `length`, which must be within 0...268_435_455 (the encoder's callers
    /// build packets far below it).
    static func encodeLength(_ length: Int, into bytes: inout [UInt8]) {
        var value = max(0, min(length, MQTTLimits.maxRemainingLength))
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value > 0
    }
}

public enum MQTTLimits {
    /// The largest remaining length 4 varint bytes can say.
    public static let maxRemainingLength = 268_435_455
}
