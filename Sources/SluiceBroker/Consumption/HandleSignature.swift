import Crypto

/// The HMAC that makes receipt and recall handles unforgeable: SHA-256 over the handle's context
/// (each part NUL-terminated: group and topic, or a domain and topic) and its payload, truncated.
enum HandleSignature {
    static func tag(key: SymmetricKey, context: [String], payload: [UInt8], size: Int) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        // Each context string is followed by a zero byte, so ("ab", "c") and ("a", "bc") differ.
        for var text in context {
            text.withUTF8 { hmac.update(data: UnsafeRawBufferPointer($0)) }
            hmac.update(data: zero)
        }
        hmac.update(data: payload)
        let code = hmac.finalize()
        return code.withUnsafeBytes { Array($0.prefix(size)) }
    }

    private static let zero: [UInt8] = [0]

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
