import SluiceTransactions
import Testing

@Suite("TransactionChecker answers")
struct CheckerAnswerTests {
    @Test("an answered check resolves the transaction through the state machine and no further check is sent")
    func answeredCheckResolves() async throws {
        try await withChecker { harness in
            let store = harness.store
            let clock = harness.clock
            harness.sender.setHook { check, clientId in
                _ = try? await store.resolve(
                    transactionId: check.transactionId, resolution: .commit, source: .check, actor: clientId,
                    at: clock.wallClockMs())
            }
            _ = try await store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)
            #expect(await harness.checker.runOnce().sent == 1)

            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == .committed)
            #expect(record.resolutionSource == .check)
            #expect(record.resolvedBy == "client-1")
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.outcome) == [.commit])

            harness.advance(toOffsetMs: 3_600_000)
            #expect(await harness.checker.runOnce().due == 0)
            #expect(harness.sender.calls.count == 1)
        }
    }

    @Test("an UNKNOWN answer reschedules the next check by the configured interval")
    func unknownAnswerReschedules() async throws {
        try await withChecker { harness in
            let store = harness.store
            let clock = harness.clock
            let configuration = harness.checker.configuration
            harness.sender.setHook { check, _ in
                let nowMs = clock.wallClockMs()
                try? await store.recordCheckOutcome(
                    transactionId: check.transactionId, attempt: check.attempt, outcome: .unknown, at: nowMs,
                    nextCheckAtMs: nowMs
                        + Int64(configuration.checkInterval(afterAttempt: check.attempt) / .milliseconds(1)))
            }
            _ = try await store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)
            _ = await harness.checker.runOnce()
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(!record.checkOutstanding)
            #expect(record.nextCheckAtMs == epochMs + 36_000)
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.outcome) == [.unknown])
        }
    }

    @Test("a check answer that contradicts the producer's own rollback is refused by the state machine")
    func conflictingAnswerRefused() async throws {
        try await withChecker { harness in
            let store = harness.store
            _ = try await store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)
            #expect(await harness.checker.runOnce().sent == 1)

            // The producer's EndTransaction(rollback) lands first, then its answer to the check says commit.
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .rollback, source: .producer, actor: "client-1",
                at: harness.nowMs + 100)
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.resolve(
                    transactionId: "txn-1", resolution: .commit, source: .check, actor: "client-1",
                    at: harness.nowMs + 200)
            }
            #expect(error.code == .conflictingResolution)
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == .rolledBack)
            #expect(record.resolutionSource == .producer)

            harness.advance(toOffsetMs: 3_600_000)
            #expect(await harness.checker.runOnce().due == 0)
        }
    }
}
