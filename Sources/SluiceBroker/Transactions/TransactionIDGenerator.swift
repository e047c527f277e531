/// Transaction ids: 32 uppercase hex digits, all 128 bits from the system's CSPRNG.
///
/// EndTransaction names a transaction by this id alone, so an id must not be guessable from
/// another one: a process prefix plus a counter (as before) let anyone who saw one id commit or
/// roll back the next producer's transactions. 128 random bits make a collision or a guess
/// negligible (the birthday bound is ~2^64 ids).
final class TransactionIDGenerator: Sendable {
    init() {}

    func next() -> String {
        var generator = SystemRandomNumberGenerator()
        return Self.hex(generator.next() as UInt64) + Self.hex(generator.next() as UInt64)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
