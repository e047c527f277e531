/// How many pending transactions have an age in `[minimumAgeMs, maximumAgeMs)`.
public struct AgeBucketCount: Sendable, Hashable {
    public var minimumAgeMs: Int64
    /// nil for the last, open-ended bucket.
    public var maximumAgeMs: Int64?
    public var count: Int

    public init(minimumAgeMs: Int64, maximumAgeMs: Int64?, count: Int) {
        self.minimumAgeMs = minimumAgeMs
        self.maximumAgeMs = maximumAgeMs
        self.count = count
    }

    /// Bucket boundaries used when none are given: 1 minute, 5 minutes, 1 hour, 1 day.
    public static let defaultBoundariesMs: [Int64] = [60_000, 300_000, 3_600_000, 86_400_000]
}
