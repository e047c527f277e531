import Testing

@testable import SluiceTransactions

@Suite("CheckRateLimiter")
struct CheckRateLimiterTests {
    @Test("a full bucket admits a burst, then turns transactions away one token apart")
    func burstThenSpacing() {
        let limiter = CheckRateLimiter(limit: CheckRateLimit(checksPerSecond: 4, burst: 2))
        #expect(limiter.take("g", nowMs: 1_000) == nil)
        #expect(limiter.take("g", nowMs: 1_000) == nil)
        #expect(limiter.take("g", nowMs: 1_000) == 1_250)
        #expect(limiter.take("g", nowMs: 1_000) == 1_500)
        #expect(limiter.take("other", nowMs: 1_000) == nil)
        // A later pass continues after the transactions already told to come back.
        #expect(limiter.take("g", nowMs: 1_100) == 1_750)
        // At 1,250 ms one token has refilled.
        #expect(limiter.take("g", nowMs: 1_250) == nil)
    }

    @Test("buckets that are full again with nobody waiting are forgotten")
    func prune() {
        let limiter = CheckRateLimiter(limit: CheckRateLimit(checksPerSecond: 10))
        #expect(limiter.take("a", nowMs: 0) == nil)
        #expect(limiter.take("b", nowMs: 950) == nil)
        #expect(limiter.bucketCount == 2)
        limiter.prune(nowMs: 1_000)
        #expect(limiter.bucketCount == 1)
        limiter.prune(nowMs: 2_000)
        #expect(limiter.bucketCount == 0)
    }
}
