@testable import SluiceBroker
import Testing

@Suite("TransactionIDGenerator")
struct TransactionIDGeneratorTests {
    @Test("ids are 32 hex digits and share no predictable part")
    func unpredictable() {
        let generator = TransactionIDGenerator()
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
        // A prefix-plus-counter scheme gives every id the same first 16 digits; random ids do not.
        #expect(Set(ids.map { $0.prefix(16) }).count == ids.count)
        #expect(Set(ids.map { $0.suffix(16) }).count == ids.count)
    }
}
