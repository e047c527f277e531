import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Makes message ids for records appended without one: 32 uppercase hex digits, a random
/// 64-bit prefix per process and a 64-bit counter, unique without coordination.
final class MessageIDGenerator: Sendable {
    private let prefix: String
    private let counter = NIOLockedValueBox<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = MessageIDGenerator.hex(generator.next() as UInt64)
    }

    func next() -> String {
        let value = counter.withLockedValue { counter -> UInt64 in
            counter &+= 1
            return counter
        }
        return prefix + MessageIDGenerator.hex(value)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
