/// Delivery tokens: what tells one delivery of a message from the next, so that the receipt
/// handle of an earlier delivery cannot settle a later one.
///
/// They need to differ, not to be secret: a handle is signed (`HandleSignature`) over its token,
/// so nobody without the broker's key can make a handle for a token they guessed. Drawing each
/// from `SystemRandomNumberGenerator` cost a `getrandom` system call — two per message consumed
/// (one when it became pending, one per delivery). SplitMix64 from one random seed per consumer
/// gives distinct values (its output is a bijection of a counter: no repeat within 2⁶⁴ draws),
/// and another consumer's or a restarted broker's sequence starts at an unrelated random point,
/// so a token stored before a restart is not handed out again but by a 2⁻⁶⁴-scale accident.
struct DeliveryTokens: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var seed = SystemRandomNumberGenerator()
        state = seed.next()
    }

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
