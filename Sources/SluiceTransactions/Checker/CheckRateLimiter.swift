import Synchronization

/// One token bucket per producer group, refilled from the wall-clock times passed in.
///
/// A transaction turned away is given a time to come back, one token's worth after the previous
/// one turned away from the same bucket. A large backlog is thus spread over time in the store,
/// instead of staying due and filling every pass's batch ahead of other groups.
final class CheckRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var refilledAtMs: Int64
        /// When the last transaction turned away was told to come back.
        var promisedUntilMs: Double
    }

    private let limit: CheckRateLimit
    private let buckets = Mutex<[String: Bucket]>([:])

    init(limit: CheckRateLimit) {
        self.limit = limit
    }

    /// Takes a token for `key` at `nowMs`. Returns nil when one was taken (send now), otherwise
    /// the time to try again.
    func take(_ key: String, nowMs: Int64) -> Int64? {
        buckets.withLock { buckets in
            var bucket =
                buckets[key] ?? Bucket(tokens: Double(limit.burst), refilledAtMs: nowMs, promisedUntilMs: 0)
            refill(&bucket, nowMs: nowMs)
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            let spacingMs = 1_000 / limit.checksPerSecond
            if bucket.promisedUntilMs > Double(nowMs) {
                bucket.promisedUntilMs += spacingMs
            } else {
                bucket.promisedUntilMs = Double(nowMs) + (1 - bucket.tokens) * spacingMs
            }
            return max(nowMs + 1, Int64(bucket.promisedUntilMs.rounded(.up)))
        }
    }

    /// Forgets buckets that are full again with nobody told to come back: they behave exactly
    /// like new ones.
    func prune(nowMs: Int64) {
        buckets.withLock { buckets in
            guard !buckets.isEmpty else { return }
            let burst = Double(limit.burst)
            buckets = buckets.filter { _, bucket in
                var bucket = bucket
                refill(&bucket, nowMs: nowMs)
                return bucket.tokens < burst || bucket.promisedUntilMs > Double(nowMs)
            }
        }
    }

    /// How many buckets are kept.
    var bucketCount: Int {
        buckets.withLock { $0.count }
    }

    private func refill(_ bucket: inout Bucket, nowMs: Int64) {
        let elapsedMs = max(0, nowMs - bucket.refilledAtMs)
        bucket.tokens = min(Double(limit.burst), bucket.tokens + Double(elapsedMs) * limit.checksPerSecond / 1_000)
        bucket.refilledAtMs = max(bucket.refilledAtMs, nowMs)
    }
}
