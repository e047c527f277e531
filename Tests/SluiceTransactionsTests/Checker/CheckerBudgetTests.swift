import SluiceTransactions
import Testing

@Suite("TransactionChecker check budget")
struct CheckerBudgetTests {
    @Test("after maximumChecks unanswered checks the budget handler is called once; parked, it is never checked again")
    func budgetExhaustedParks() async throws {
        var configuration = TransactionCheckerConfiguration.unlimited
        configuration.maximumChecks = 3
        try await withChecker(configuration: configuration) { harness in
            _ = try await harness.store.recordPrepared(prepared(1))
            var exhausted = 0
            for offsetMs in stride(from: Int64(0), through: 600_000, by: 1_000) {
                harness.advance(toOffsetMs: offsetMs)
                exhausted += await harness.checker.runOnce().budgetExhausted
            }
            // Checks at 6 s, 36 s, 66 s; the third's deadline (96 s) hands it to the policy.
            #expect(harness.sender.calls.map(\.check.attempt) == [1, 2, 3])
            #expect(harness.sender.calls.map(\.clientId) == ["client-1", "client-1", "client-1"])
            #expect(exhausted == 1)
            #expect(harness.budget.transactionIds == ["txn-1"])
            let record = try #require(try await harness.store.transaction(id: "txn-1"))
            #expect(record.state == .parked)
            #expect(record.checkCount == 3)
            #expect(record.nextCheckAtMs == nil)
            let audit = try await harness.store.auditLog(transactionId: "txn-1")
            #expect(audit.map(\.action) == ["park"])
            #expect(audit.first?.atMs == epochMs + 96_000)
        }
    }

    @Test("without a budget handler the checker parks (the default policy)")
    func defaultHandlerParks() async throws {
        try await withStore { store in
            let clock = ManualClock(startMs: epochMs)
            let directory = FakeProducerDirectory()
            directory.connect("client-1")
            var configuration = TransactionCheckerConfiguration.unlimited
            configuration.maximumChecks = 1
            let checker = try TransactionChecker(
                store: store, sender: FakeCheckBackSender(), directory: directory, configuration: configuration,
                clock: clock, wallClockMs: clock.wallClockMs)
            _ = try await store.recordPrepared(prepared(1))
            clock.advance(by: .seconds(6))
            #expect(await checker.runOnce().sent == 1)
            clock.advance(by: .seconds(30))
            #expect(await checker.runOnce().budgetExhausted == 1)
            #expect(try await store.transaction(id: "txn-1")?.state == .parked)
        }
    }

    @Test("a budget handler that leaves the transaction prepared is called again after retryDelay, not every pass")
    func failingHandlerRetriedLater() async throws {
        try await withStore { store in
            let clock = ManualClock(startMs: epochMs)
            let directory = FakeProducerDirectory()
            directory.connect("client-1")
            let handler = RecordingBudgetHandler(store: store, wallClockMs: clock.wallClockMs, parks: false)
            var configuration = TransactionCheckerConfiguration.unlimited
            configuration.maximumChecks = 1
            let checker = try TransactionChecker(
                store: store, sender: FakeCheckBackSender(), directory: directory, budgetHandler: handler,
                configuration: configuration, clock: clock, wallClockMs: clock.wallClockMs)
            _ = try await store.recordPrepared(prepared(1))
            clock.advance(by: .seconds(6))
            #expect(await checker.runOnce().sent == 1)

            clock.advance(by: .seconds(30))
            #expect(await checker.runOnce().budgetExhausted == 1)
            #expect(await checker.runOnce().due == 0)
            clock.advance(by: .milliseconds(4_999))
            #expect(await checker.runOnce().due == 0)
            clock.advance(by: .milliseconds(1))
            #expect(await checker.runOnce().budgetExhausted == 1)
            #expect(handler.transactionIds == ["txn-1", "txn-1"])
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == .prepared)
            #expect(record.checkCount == 1)
        }
    }
}
