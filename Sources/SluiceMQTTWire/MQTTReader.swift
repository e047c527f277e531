/// A bounds-checked cursor over one packet's variable header and payload. Every read checks
/// what is left first and throws `truncated`; nothing here traps on client bytes.
struct MQTTReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte(_ field: String) throws(MQTTWireError) -> UInt8 {
        guard remaining >= 1 else { throw MQTTWireError(.truncated, "the packet ends before \(field)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16(_ field: String) throws(MQTTWireError) -> UInt16 {
        guard remaining >= 2 else { throw MQTTWireError(.truncated, "the packet ends before \(field)") }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func uint32(_ field: String) throws(MQTTWireError) -> UInt32 {
        guard remaining >= 4 else { throw MQTTWireError(.truncated, "the packet ends before \(field)") }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    /// A variable byte integer (§1.5.5): at most 4 bytes, so at most 268,435,455.
    mutating func variableInteger(_ field: String) throws(MQTTWireError) -> Int {
        var value = 0
        for index in 0..<4 {
            let byte = try self.byte(field)
            value |= Int(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 { return value }
        }
        throw MQTTWireError(.malformedLength, "\(field) runs past 4 bytes")
    }

    /// A reader over the next `length` bytes, which this one skips.
    mutating func slice(_ length: Int, _ field: String) throws(MQTTWireError) -> MQTTReader {
        guard length >= 0, remaining >= length else {
            throw MQTTWireError(.truncated, "\(field) say \(length) bytes but \(remaining) remain")
        }
        defer { offset += length }
        return MQTTReader(Array(bytes[offset..<(offset + length)]))
    }

    /// A length-prefixed byte string (2-byte big-endian length).
    mutating func binary(_ field: String) throws(MQTTWireError) -> [UInt8] {
        let length = Int(try uint16(field))
        guard remaining >= length else {
            throw MQTTWireError(.truncated, "\(field) says \(length) bytes but \(remaining) remain")
        }
        defer { offset += length }
        return Array(bytes[offset..<(offset + length)])
    }

    /// A length-prefixed UTF-8 string: well-formed, without U+0000 (§1.5.3).
    mutating func string(_ field: String) throws(MQTTWireError) -> String {
        let raw = try binary(field)
        return try Self.utf8(raw, field)
    }

    static func utf8(_ raw: [UInt8], _ field: String) throws(MQTTWireError) -> String {
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw MQTTWireError(.invalidUTF8, "\(field) is not well-formed UTF-8")
        }
        if raw.contains(0) { throw MQTTWireError(.invalidUTF8, "\(field) contains U+0000") }
        return text
    }

    /// Everything left (a PUBLISH payload).
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    func expectEnd(_ packet: String) throws(MQTTWireError) {
        if !isAtEnd {
            throw MQTTWireError(.protocolViolation, "\(packet) has \(remaining) bytes after its last field")
        }
    }
}
