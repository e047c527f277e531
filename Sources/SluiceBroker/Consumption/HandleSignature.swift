import Crypto

/// The HMAC that makes receipt and recall handles unforgeable: SHA-256 over the handle's context
/// (each part NUL-terminated: group and topic, or a domain and topic) and its payload, truncated.
enum HandleSignature {
    static func tag(key: HandleSigningKey, context: [String], payload: [UInt8], size: Int) -> [UInt8] {
        // One buffer, one update: HMAC's generic `update` costs more per call than SHA-256 does
        // per byte of a handle. Each context string is followed by a zero byte, so ("ab", "c")
        // and ("a", "bc") differ.
        var message: [UInt8] = []
        message.reserveCapacity(context.reduce(payload.count) { $0 + $1.utf8.count + 1 })
        for text in context {
            message += text.utf8
            message.append(0)
        }
        message += payload
        var hmac = key.keyed
        hmac.update(data: message)
        let code = hmac.finalize()
        return code.withUnsafeBytes { Array($0.prefix(size)) }
    }

    /// Compares without an early exit, so the time taken says nothing about where a forged tag
    /// first differs.
    static func matches(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }

    /// Appends an integer's bytes as they are in memory (callers pass `.bigEndian`).
    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}

/// The broker's handle key with HMAC's key schedule done once: a handle is signed or checked on
/// every delivery and every ack, and `HMAC(key:)` (padding, two pad hashes, several arrays) cost
/// more than the rest of the signature.
public struct HandleSigningKey: Sendable {
    let keyed: HMAC<SHA256>

    public init(_ key: SymmetricKey) { keyed = HMAC<SHA256>(key: key) }
}

