@testable import SluiceBroker
import Testing

@Suite("TransactionIDGenerator")
struct TransactionIDGeneratorTests {
    @Test("ids are 32 hex digits: the time, then 80 bits nobody can predict")
    func unpredictable() {
        let generator = TransactionIDGenerator()
        let ids = (0..<1000).map { _ in generator.next(nowMs: 1_765_000_000_000) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.uppercased() })
        // Ids made in the same millisecond share only the time: a prefix-plus-counter scheme
        // would give every id the same first 28 digits.
        #expect(Set(ids.map { $0.prefix(12) }) == ["019AF232B200"])
        #expect(Set(ids.map { $0.dropFirst(12).prefix(10) }).count == ids.count)
        #expect(Set(ids.map { $0.suffix(10) }).count == ids.count)
    }

    @Test("ids made later sort after earlier ones (the table's primary key grows at its end)")
    func timeOrdered() {
        let generator = TransactionIDGenerator()
        let earlier = (0..<100).map { generator.next(nowMs: 1_765_000_000_000 + Int64($0)) }
        let later = (0..<100).map { generator.next(nowMs: 1_765_000_000_100 + Int64($0)) }
        #expect(earlier.max()! < later.min()!)
        #expect(zip(earlier, earlier.dropFirst()).allSatisfy { $0 < $1 })
        // Out-of-range clocks do not trap: a negative time is 0, a huge one keeps its low 48 bits.
        #expect(generator.next(nowMs: -5).hasPrefix("000000000000"))
        #expect(generator.next(nowMs: .max).hasPrefix("FFFFFFFFFFFF"))
    }
}
