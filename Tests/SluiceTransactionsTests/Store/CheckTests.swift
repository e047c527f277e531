import Testing

@testable import SluiceTransactions

@Suite("TransactionStateStore checks")
struct CheckTests {
    @Test("dueForCheck returns only due prepared rows, ordered by next check, up to the limit")
    func dueForCheck() async throws {
        try await withStore { store in
            // Due at epoch+1s, +2s, +3s (inserted out of order), one not yet due, one resolved, one parked.
            _ = try await store.recordPrepared(prepared(3, firstCheckDelayMs: 3_000))
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 1_000))
            _ = try await store.recordPrepared(prepared(2, firstCheckDelayMs: 2_000))
            _ = try await store.recordPrepared(prepared(4, firstCheckDelayMs: 60_000))
            _ = try await store.recordPrepared(prepared(5, firstCheckDelayMs: 0))
            _ = try await store.recordPrepared(prepared(6, firstCheckDelayMs: 0))
            _ = try await store.resolve(
                transactionId: "txn-5", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            _ = try await store.park(transactionId: "txn-6", at: epochMs)

            let now = epochMs + 3_000
            #expect(
                try await store.dueForCheck(now: now, limit: 10).map(\.transactionId) == ["txn-1", "txn-2", "txn-3"])
            #expect(try await store.dueForCheck(now: now, limit: 2).map(\.transactionId) == ["txn-1", "txn-2"])
            #expect(try await store.dueForCheck(now: epochMs + 999, limit: 10).isEmpty)
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.dueForCheck(now: now, limit: 0)
            }
            #expect(error.code == .invalidArgument)
        }
    }

    @Test("the due query is served by the partial index on prepared rows")
    func dueQueryUsesPartialIndex() async throws {
        try await withStore { store in
            let plan = try await store.executor.read { connection in
                try connection.query(
                    "EXPLAIN QUERY PLAN " + TransactionStateStore.dueQuery, [.integer(0), .integer(1)]
                ) {
                    $0.string(at: 3)
                }
            }
            #expect(plan.contains { $0.contains("USING INDEX transactions_due") }, "plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
        }
    }

    @Test("a check is numbered, outstanding until answered, and rescheduled")
    func checkLifecycle() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 0))
            let attempt = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "client-1", at: epochMs + 100, answerDeadlineMs: epochMs + 3_100)
            #expect(attempt == 1)
            var record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.checkCount == 1)
            #expect(record.checkOutstanding)
            #expect(record.lastCheckAtMs == epochMs + 100)
            #expect(record.nextCheckAtMs == epochMs + 3_100)
            // Not due again until the answer deadline.
            #expect(try await store.dueForCheck(now: epochMs + 3_000, limit: 10).isEmpty)

            try await store.recordCheckOutcome(
                transactionId: "txn-1", attempt: 1, outcome: .unknown, at: epochMs + 200,
                nextCheckAtMs: epochMs + 60_000)
            record = try #require(try await store.transaction(id: "txn-1"))
            #expect(!record.checkOutstanding)
            #expect(record.nextCheckAtMs == epochMs + 60_000)
            // Repeating the outcome changes nothing.
            try await store.recordCheckOutcome(
                transactionId: "txn-1", attempt: 1, outcome: .unknown, at: epochMs + 300, nextCheckAtMs: epochMs + 1)
            #expect(try await store.transaction(id: "txn-1")?.nextCheckAtMs == epochMs + 60_000)

            #expect(
                try await store.markCheckSent(
                    transactionId: "txn-1", clientId: "client-2", at: epochMs + 60_000,
                    answerDeadlineMs: epochMs + 63_000) == 2)
            let result = try await store.resolve(
                transactionId: "txn-1", resolution: .commit, source: .check, actor: "client-2", at: epochMs + 60_500)
            #expect(result == .applied(from: .prepared, to: .committed))

            let history = try await store.checkHistory(transactionId: "txn-1")
            #expect(
                history == [
                    CheckAttempt(
                        transactionId: "txn-1", attempt: 1, sentAtMs: epochMs + 100, clientId: "client-1",
                        outcome: .unknown, answeredAtMs: epochMs + 200),
                    CheckAttempt(
                        transactionId: "txn-1", attempt: 2, sentAtMs: epochMs + 60_000, clientId: "client-2",
                        outcome: .commit, answeredAtMs: epochMs + 60_500),
                ])
            record = try #require(try await store.transaction(id: "txn-1"))
            #expect(!record.checkOutstanding)
            #expect(record.nextCheckAtMs == nil)
        }
    }

    @Test("an unanswered check is closed as no_answer when the next one is sent")
    func unansweredCheck() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 0))
            _ = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "c", at: epochMs, answerDeadlineMs: epochMs + 10)
            let due = try await store.dueForCheck(now: epochMs + 10, limit: 10)
            #expect(due.map(\.transactionId) == ["txn-1"])
            #expect(due.first?.checkOutstanding == true)
            _ = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "c", at: epochMs + 10, answerDeadlineMs: epochMs + 20)
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.outcome) == [.noAnswer, nil])
        }
    }

    @Test("with no client to ask, the attempt is recorded as no_client and nothing is outstanding")
    func noClient() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 0))
            #expect(
                try await store.markCheckSent(
                    transactionId: "txn-1", clientId: nil, at: epochMs, answerDeadlineMs: epochMs + 5) == 1)
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(!record.checkOutstanding)
            #expect(record.nextCheckAtMs == epochMs + 5)
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.outcome) == [.noClient])
        }
    }

    @Test("no check is sent for a transaction resolved since it was found due")
    func markCheckSentAfterResolution() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 0))
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .rollback, source: .producer, actor: nil, at: epochMs)
            #expect(
                try await store.markCheckSent(
                    transactionId: "txn-1", clientId: "c", at: epochMs, answerDeadlineMs: epochMs) == nil)
            #expect(try await store.checkHistory(transactionId: "txn-1").isEmpty)
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.markCheckSent(
                    transactionId: "ghost", clientId: "c", at: epochMs, answerDeadlineMs: epochMs)
            }
            #expect(error.code == .unknownTransaction)
        }
    }

    @Test("recordCheckOutcome refuses decisions and attempts never sent")
    func recordCheckOutcomeValidation() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            for outcome in [CheckOutcome.commit, .rollback] {
                let error = try await #require(throws: TransactionStoreError.self) {
                    try await store.recordCheckOutcome(
                        transactionId: "txn-1", attempt: 1, outcome: outcome, at: epochMs, nextCheckAtMs: nil)
                }
                #expect(error.code == .invalidArgument)
            }
            let neverSent = try await #require(throws: TransactionStoreError.self) {
                try await store.recordCheckOutcome(
                    transactionId: "txn-1", attempt: 1, outcome: .unknown, at: epochMs, nextCheckAtMs: nil)
            }
            #expect(neverSent.code == .invalidArgument)
            let unknown = try await #require(throws: TransactionStoreError.self) {
                try await store.recordCheckOutcome(
                    transactionId: "ghost", attempt: 1, outcome: .unknown, at: epochMs, nextCheckAtMs: nil)
            }
            #expect(unknown.code == .unknownTransaction)
        }
    }
}
