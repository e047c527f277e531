import SluiceTransactions
import Testing

@Suite("TransactionStateStore counts")
struct CountTests {
    @Test("counts by state include every state")
    func countsByState() async throws {
        try await withStore { store in
            #expect(try await store.countsByState() == [.prepared: 0, .committed: 0, .rolledBack: 0, .parked: 0])
            for number in 0..<6 {
                _ = try await store.recordPrepared(prepared(number))
            }
            _ = try await store.resolve(
                transactionId: "txn-0", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            _ = try await store.resolve(
                transactionId: "txn-2", resolution: .rollback, source: .producer, actor: nil, at: epochMs)
            _ = try await store.park(transactionId: "txn-3", at: epochMs)
            #expect(try await store.countsByState() == [.prepared: 2, .committed: 2, .rolledBack: 1, .parked: 1])
        }
    }

    @Test("pending transactions counted by age bucket")
    func countsByAge() async throws {
        try await withStore { store in
            let now = epochMs + 100_000_000
            let ages: [Int64] = [0, 59_999, 60_000, 299_999, 3_600_000, 86_400_000, 90_000_000, -5]
            for (number, age) in ages.enumerated() {
                _ = try await store.recordPrepared(prepared(number, createdAtMs: now - age))
            }
            _ = try await store.park(transactionId: "txn-1", at: now)
            _ = try await store.resolve(
                transactionId: "txn-6", resolution: .commit, source: .producer, actor: nil, at: now)
            let buckets = try await store.countsByAge(now: now)
            #expect(
                buckets == [
                    AgeBucketCount(minimumAgeMs: 0, maximumAgeMs: 60_000, count: 3),  // 0, 59_999 (parked), -5
                    AgeBucketCount(minimumAgeMs: 60_000, maximumAgeMs: 300_000, count: 2),
                    AgeBucketCount(minimumAgeMs: 300_000, maximumAgeMs: 3_600_000, count: 0),
                    AgeBucketCount(minimumAgeMs: 3_600_000, maximumAgeMs: 86_400_000, count: 1),
                    AgeBucketCount(minimumAgeMs: 86_400_000, maximumAgeMs: nil, count: 1),  // 90_000_000 is committed
                ])
            let preparedOnly = try await store.countsByAge(now: now, boundariesMs: [60_000], states: [.prepared])
            #expect(preparedOnly.map(\.count) == [2, 4])
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.countsByAge(now: now, boundariesMs: [10, 10])
            }
            #expect(error.code == .invalidArgument)
        }
    }

    @Test("the oldest pending age covers prepared and parked, not resolved")
    func oldestPendingAge() async throws {
        try await withStore { store in
            #expect(try await store.oldestPendingAgeMs(now: epochMs) == nil)
            _ = try await store.recordPrepared(prepared(1, createdAtMs: epochMs - 50_000))
            _ = try await store.recordPrepared(prepared(2, createdAtMs: epochMs - 40_000))
            _ = try await store.recordPrepared(prepared(3, createdAtMs: epochMs - 10_000))
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            #expect(try await store.oldestPendingAgeMs(now: epochMs) == 40_000)
            _ = try await store.park(transactionId: "txn-2", at: epochMs)
            #expect(try await store.oldestPendingAgeMs(now: epochMs) == 40_000)
            _ = try await store.resolve(
                transactionId: "txn-2", resolution: .rollback, source: .operator, actor: "ops", at: epochMs)
            #expect(try await store.oldestPendingAgeMs(now: epochMs) == 10_000)
        }
    }
}
