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
