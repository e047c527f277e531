/// Base64url without padding (RFC 4648 §5), for the handles the broker gives out with every
/// delivery. Written over bytes because Foundation's base64 plus three `replacingOccurrences`
/// passes cost about 7% of the broker's CPU at a few thousand deliveries a second (receipt
/// handles are encoded on every delivery and decoded on every ack).
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Value of each ASCII byte, 0xFF when it is not a digit. Both alphabets decode ('-' and '+'
    /// are 62, '_' and '/' are 63), as Foundation's decoding of a converted string did.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        table[Int(UInt8(ascii: "+"))] = 62
        table[Int(UInt8(ascii: "/"))] = 63
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
            out.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let chunk = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
        case 2:
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`, or nil when it is not base64 (url or standard alphabet; padding
    /// optional), or longer than `maximumLength` characters.
    static func decode(_ text: String, maximumLength: Int) -> [UInt8]? {
        var digits: [UInt8] = []
        digits.reserveCapacity(min(text.utf8.count, maximumLength))
        var padding = 0
        for byte in text.utf8 {
            if digits.count + padding >= maximumLength { return nil }
            if byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            // A digit after padding, or more than two padding characters, is not base64.
            if padding > 0 { return nil }
            let value = values[Int(byte)]
            if value == 0xFF { return nil }
            digits.append(value)
        }
        if padding > 2 || (padding > 0 && (digits.count + padding) % 4 != 0) { return nil }
        // One digit left over cannot hold a byte.
        if digits.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count * 3 / 4)
        var index = 0
        while index + 4 <= digits.count {
            let chunk = UInt32(digits[index]) << 18 | UInt32(digits[index + 1]) << 12
                | UInt32(digits[index + 2]) << 6 | UInt32(digits[index + 3])
            out.append(UInt8(chunk >> 16 & 0xFF))
            out.append(UInt8(chunk >> 8 & 0xFF))
            out.append(UInt8(chunk & 0xFF))
            index += 4
        }
        // The last digit's unused low bits must be zero: otherwise several texts would name the
        // same bytes, and an edited handle could still be accepted.
        switch digits.count - index {
        case 2:
            if digits[index + 1] & 0x0F != 0 { return nil }
            let chunk = UInt32(digits[index]) << 18 | UInt32(digits[index + 1]) << 12
            out.append(UInt8(chunk >> 16 & 0xFF))
        case 3:
            if digits[index + 2] & 0x03 != 0 { return nil }
            let chunk = UInt32(digits[index]) << 18 | UInt32(digits[index + 1]) << 12 | UInt32(digits[index + 2]) << 6
            out.append(UInt8(chunk >> 16 & 0xFF))
            out.append(UInt8(chunk >> 8 & 0xFF))
        default:
            break
        }
        return out
    }
}
