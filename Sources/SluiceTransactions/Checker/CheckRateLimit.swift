/// A token bucket: at most `checksPerSecond` checks per second on average, with bursts of up to
/// `burst` checks after a quiet spell.
public struct CheckRateLimit: Sendable, Hashable {
    /// The refill rate; must be positive.
    public var checksPerSecond: Double
    /// The bucket's capacity; must be at least 1.
    public var burst: Int

    /// - Parameter burst: nil for one second's worth (`checksPerSecond` rounded up).
    public init(checksPerSecond: Double, burst: Int? = nil) {
        self.checksPerSecond = checksPerSecond
        self.burst = burst ?? Int(max(1, checksPerSecond.rounded(.up)))
    }
}
