import Foundation

/// Transaction ids: 32 uppercase hex digits — the creation time in milliseconds (12 digits, 48
/// bits) followed by 80 bits from the system's CSPRNG (20 digits).
///
/// EndTransaction names a transaction by this id alone, so an id must not be guessable from
/// another one: a process prefix plus a counter (as before) let anyone who saw one id commit or
/// roll back the next producer's transactions. 80 random bits keep a guess negligible (and a
/// collision needs ~2^40 ids in one millisecond).
///
/// The time comes first for the transaction table: the id is its primary key, and fully random
/// keys put every insert on a random page of that index, so a batch of rows dirtied (and wrote
/// to the WAL) one page per row; ids that grow with time land together at the index's end.
final class TransactionIDGenerator: Sendable {
    init() {}

    func next(nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt16
        let time = UInt64(clamping: max(0, nowMs)) & 0xFFFF_FFFF_FFFF
        return Self.hex(time, digits: 12) + Self.hex(high, digits: 16) + Self.hex(UInt64(low), digits: 4)
    }

    private static func hex(_ value: UInt64, digits count: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: count - digits.count) + digits
    }
}
