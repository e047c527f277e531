import Testing

@testable import SluiceBroker

@Suite("Delivery tokens tell deliveries apart without a system call each")
struct DeliveryTokensTests {
    @Test("a consumer's tokens do not repeat, and two consumers' sequences are unrelated")
    func distinct() {
        var first = DeliveryTokens()
        var second = DeliveryTokens()
        let a = (0..<200_000).map { _ in first.next() }
        let b = (0..<200_000).map { _ in second.next() }
        #expect(Set(a).count == a.count)
        #expect(Set(a).isDisjoint(with: b))
    }

    @Test("SplitMix64: the published first outputs for seed 0 (so the mixing is the real one)")
    func knownValues() {
        var tokens = DeliveryTokens(seed: 0)
        #expect(tokens.next() == 0xE220_A839_7B1D_CDAF)
        #expect(tokens.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(tokens.next() == 0x06C4_5D18_8009_454F)
    }
}
