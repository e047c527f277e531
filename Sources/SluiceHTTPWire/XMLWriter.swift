/// Writes the protocol's response documents: a declaration, a root element with the protocol's
/// namespace, and leaf elements of escaped text. Appends UTF-8 to one growing byte array.
public struct XMLWriter: Sendable {
    /// The namespace every document of the protocol declares on its root.
    public static let namespace = "http://mq.aliyuncs.com/doc/v1/"

    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
        bytes.append(contentsOf: #"<?xml version="1.0" encoding="UTF-8"?>"#.utf8)
        bytes.append(0x0A)
    }

    /// `<name xmlns="…">` for the root.
    public mutating func openRoot(_ name: String) {
        bytes.append(contentsOf: "<\(name) xmlns=\"\(Self.namespace)\">".utf8)
    }

    public mutating func open(_ name: String) { bytes.append(contentsOf: "<\(name)>".utf8) }

    public mutating func close(_ name: String) { bytes.append(contentsOf: "</\(name)>".utf8) }

    /// `<name>text</name>` with the text escaped.
    public mutating func leaf(_ name: String, _ text: String) {
        open(name)
        Self.escape(text, into: &bytes)
        close(name)
    }

    /// Escapes `&`, `<`, `>` and quotes; writes CR as a character reference so a reader does not
    /// fold it into LF; replaces characters XML 1.0 cannot carry at all (other C0 controls,
    /// U+FFFE, U+FFFF) with U+FFFD, which docs/access.md states.
    public static func escape(_ text: String, into bytes: inout [UInt8]) {
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x26: bytes.append(contentsOf: "&amp;".utf8)
            case 0x3C: bytes.append(contentsOf: "&lt;".utf8)
            case 0x3E: bytes.append(contentsOf: "&gt;".utf8)
            case 0x22: bytes.append(contentsOf: "&quot;".utf8)
            case 0x27: bytes.append(contentsOf: "&apos;".utf8)
            case 0x0D: bytes.append(contentsOf: "&#13;".utf8)
            case 0x09, 0x0A: bytes.append(UInt8(scalar.value))
            case 0x00..<0x20, 0xFFFE, 0xFFFF: bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])
            case 0x20..<0x80: bytes.append(UInt8(scalar.value))
            default: bytes.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
    }
}
