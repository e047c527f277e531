import SluiceTransactions
import Testing

@Suite("TransactionChecker metrics")
struct CheckerMetricsTests {
    @Test("sluice_transaction_checks_total counts each outcome")
    func outcomesCounted() async throws {
        var configuration = TransactionCheckerConfiguration()
        configuration.maximumChecks = 1
        configuration.producerGroupRateLimit = CheckRateLimit(checksPerSecond: 1)
        let metrics = RecordingMetricsFactory()
        try await withChecker(configuration: configuration, metricsFactory: metrics) { harness in
            harness.directory.connect("client-flaky", producerGroup: "flaky")
            harness.sender.setUnreachable("client-flaky")
            _ = try await harness.store.recordPrepared(prepared(1))  // sent, later budget exhausted
            _ = try await harness.store.recordPrepared(prepared(2))  // same group: rate-limited
            _ = try await harness.store.recordPrepared(prepared(3, producerGroup: "nobody", clientId: "client-gone"))
            _ = try await harness.store.recordPrepared(prepared(4, producerGroup: "flaky", clientId: "client-flaky"))

            func count(_ outcome: String) -> Int64 {
                metrics.counterValue("sluice_transaction_checks_total", [("outcome", outcome)])
            }

            harness.advance(toOffsetMs: 6_000)
            let first = await harness.checker.runOnce()
            #expect(first.sent == 1)
            #expect(first.rateLimited == 1)
            #expect(first.noClient == 1)
            #expect(first.sendFailed == 1)
            #expect(count("sent") == 1)
            #expect(count("rate_limited") == 1)
            #expect(count("no_client") == 1)
            #expect(count("send_failed") == 1)
            #expect(count("budget_exhausted") == 0)

            harness.advance(toOffsetMs: 36_000)
            let second = await harness.checker.runOnce()
            // txn-1's only check went unanswered; txn-2 gets its turn; txn-3 and txn-4 fail again.
            #expect(second.budgetExhausted == 1)
            #expect(second.sent == 1)
            #expect(count("budget_exhausted") == 1)
            #expect(count("sent") == 2)
            #expect(count("no_client") == 2)
            #expect(count("send_failed") == 2)
        }
    }
}
