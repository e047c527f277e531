import SluiceTransactions
import Testing

@Suite("TransactionStateStore postponing and withdrawing checks")
struct RescheduleStoreTests {
    @Test("postponeChecks moves only the next check time, and only of prepared transactions")
    func postpone() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.recordPrepared(prepared(2))
            _ = try await store.markCheckSent(
                transactionId: "txn-2", clientId: "c", at: epochMs + 6_000, answerDeadlineMs: epochMs + 36_000)
            _ = try await store.recordPrepared(prepared(3))
            _ = try await store.resolve(
                transactionId: "txn-3", resolution: .commit, source: .producer, actor: nil, at: epochMs)

            let moved = try await store.postponeChecks([
                "txn-1": epochMs + 50_000, "txn-2": epochMs + 60_000, "txn-3": epochMs + 70_000, "ghost": 1,
            ])
            #expect(moved == 2)
            let first = try #require(try await store.transaction(id: "txn-1"))
            #expect(first.nextCheckAtMs == epochMs + 50_000)
            #expect(first.checkCount == 0)
            let second = try #require(try await store.transaction(id: "txn-2"))
            #expect(second.nextCheckAtMs == epochMs + 60_000)
            #expect(second.checkCount == 1)
            #expect(second.checkOutstanding)
            #expect(try await store.transaction(id: "txn-3")?.nextCheckAtMs == nil)
            #expect(try await store.postponeChecks([:]) == 0)
        }
    }

    @Test("withdrawCheck removes the latest open attempt and gives its budget back")
    func withdraw() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "c", at: epochMs + 6_000, answerDeadlineMs: epochMs + 36_000)
            _ = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "c", at: epochMs + 36_000, answerDeadlineMs: epochMs + 66_000)

            // Not the latest attempt: nothing happens.
            #expect(!(try await store.withdrawCheck(transactionId: "txn-1", attempt: 1, nextCheckAtMs: 0)))
            #expect(try await store.withdrawCheck(transactionId: "txn-1", attempt: 2, nextCheckAtMs: epochMs + 41_000))

            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.checkCount == 1)
            #expect(!record.checkOutstanding)
            #expect(record.lastCheckAtMs == epochMs + 6_000)
            #expect(record.nextCheckAtMs == epochMs + 41_000)
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.attempt) == [1])
            // Attempt numbers continue where they were.
            #expect(
                try await store.markCheckSent(
                    transactionId: "txn-1", clientId: "c", at: epochMs + 41_000, answerDeadlineMs: epochMs + 71_000)
                    == 2)
        }
    }

    @Test("withdrawCheck leaves answered attempts and resolved transactions alone")
    func withdrawAfterAnswer() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.markCheckSent(
                transactionId: "txn-1", clientId: "c", at: epochMs, answerDeadlineMs: epochMs + 30_000)
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .rollback, source: .check, actor: "c", at: epochMs + 10)
            #expect(!(try await store.withdrawCheck(transactionId: "txn-1", attempt: 1, nextCheckAtMs: epochMs)))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == .rolledBack)
            #expect(record.checkCount == 1)
            #expect(try await store.checkHistory(transactionId: "txn-1").map(\.outcome) == [.rollback])
            #expect(!(try await store.withdrawCheck(transactionId: "ghost", attempt: 1, nextCheckAtMs: epochMs)))
        }
    }
}
