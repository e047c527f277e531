import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Makes message ids for records appended without one: 32 uppercase hex digits, a random
/// 64-bit prefix per process and a 64-bit counter, unique without coordination.
public final class MessageIDGenerator: Sendable {
    private let prefix: UInt64
    private let counter = Atomic<UInt64>(0)

    public init() {
        var generator = SystemRandomNumberGenerator()
        prefix = generator.next()
    }

    /// One id per append: formatted straight into the string's storage (no intermediate strings).
    public func next() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { bytes in
            MessageIDGenerator.writeHex(prefix, into: bytes, at: 0)
            MessageIDGenerator.writeHex(value, into: bytes, at: 16)
            return 32
        }
    }

    /// 16 uppercase hex digits, zero-padded.
    private static func writeHex(_ value: UInt64, into bytes: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        for digit in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * digit)) & 0xF
            bytes[start + digit] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
        }
    }
}
