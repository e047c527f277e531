import SluiceTransactions
import Testing

@Suite("TransactionChecker rate limit")
struct CheckerRateLimitTests {
    static func limited(checksPerSecond: Double, batchLimit: Int = 1_000) -> TransactionCheckerConfiguration {
        var configuration = TransactionCheckerConfiguration()
        configuration.producerGroupRateLimit = CheckRateLimit(checksPerSecond: checksPerSecond)
        configuration.batchLimit = batchLimit
        return configuration
    }

    @Test("a group over its limit gets 10 checks per second of clock time; another group is unaffected")
    func tenPerSecond() async throws {
        try await withChecker(configuration: Self.limited(checksPerSecond: 10)) { harness in
            harness.directory.connect("client-q", producerGroup: "quiet")
            for number in 0..<100 {
                _ = try await harness.store.recordPrepared(prepared(number, producerGroup: "busy"))
            }
            for number in 100..<105 {
                _ = try await harness.store.recordPrepared(
                    prepared(number, producerGroup: "quiet", clientId: "client-q"))
            }

            func sentPerGroup() -> [String: Int] {
                Dictionary(grouping: harness.sender.calls, by: \.check.producerGroup).mapValues(\.count)
            }

            harness.advance(toOffsetMs: 6_000)
            let first = await harness.checker.runOnce()
            #expect(first.sent == 15)
            #expect(first.rateLimited == 90)
            #expect(sentPerGroup() == ["busy": 10, "quiet": 5])
            // More passes at the same instant send nothing more.
            #expect(await harness.checker.runOnce().sent == 0)
            #expect(await harness.checker.runOnce().sent == 0)

            for second in Int64(1)...9 {
                harness.advance(toOffsetMs: 6_000 + second * 1_000)
                let sentThisSecond = await harness.checker.runOnce().sent + harness.checker.runOnce().sent
                #expect(sentThisSecond == 10, "second \(second)")
            }
            #expect(sentPerGroup() == ["busy": 100, "quiet": 5])
            #expect(Set(harness.sender.transactionIds).count == 105)
        }
    }

    @Test("passes more often than once a second never send more than the burst plus the rate")
    func frequentPassesStayWithinBucket() async throws {
        try await withChecker(configuration: Self.limited(checksPerSecond: 10)) { harness in
            for number in 0..<100 {
                _ = try await harness.store.recordPrepared(prepared(number))
            }
            var sent = 0
            for offsetMs in stride(from: Int64(6_000), through: 16_000, by: 100) {
                harness.advance(toOffsetMs: offsetMs)
                sent += await harness.checker.runOnce().sent
                let allowed = 10 + Int((offsetMs - 6_000) / 100)
                #expect(sent <= allowed, "at \(offsetMs) ms")
            }
            #expect(sent == 100)
        }
    }

    @Test("a backlog in one group does not keep another group's due checks out of the batch")
    func backlogDoesNotStarveOtherGroups() async throws {
        try await withChecker(configuration: Self.limited(checksPerSecond: 10, batchLimit: 20)) { harness in
            harness.directory.connect("client-q", producerGroup: "quiet")
            for number in 0..<100 {
                _ = try await harness.store.recordPrepared(prepared(number))
            }
            for number in 100..<105 {
                _ = try await harness.store.recordPrepared(
                    prepared(number, producerGroup: "quiet", clientId: "client-q", createdAtMs: epochMs + 1))
            }
            harness.advance(toOffsetMs: 6_001)
            for _ in 0..<10 {
                _ = await harness.checker.runOnce()
            }
            let quiet = harness.sender.calls.filter { $0.check.producerGroup == "quiet" }
            #expect(quiet.count == 5)
            #expect(harness.sender.calls.count == 15)
        }
    }
}
