import NIOConcurrencyHelpers

/// Transaction ids: 32 uppercase hex digits, a random 64-bit prefix per process and a counter.
final class TransactionIDGenerator: Sendable {
    private let prefix: String
    private let counter = NIOLockedValueBox<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = Self.hex(generator.next() as UInt64)
    }

    func next() -> String {
        prefix + Self.hex(counter.withLockedValue { $0 &+= 1; return $0 })
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
