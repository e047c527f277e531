import SluiceTransactions
import Testing

/// A replicated broker cutting a divergent log tail (docs/architecture.md §15) undoes what the
/// tail's events did to the table: its halves go, its resolutions are reopened.
@Suite("TransactionStateStore.forgetLogTail")
struct ForgetLogTailTests {
    @Test("halves at or past the cut are deleted with their checks; resolutions from the tail are reopened; the watermark drops")
    func forgetsTheTail() async throws {
        try await withStore { store in
            // Halves at 1024, 2048, 3072, 4096; the cut is at 3072.
            for number in 1...4 { _ = try await store.recordPrepared(prepared(number)) }
            _ = try await store.resolve(transactionId: "txn-1", resolution: .commit, source: .producer, actor: nil, at: epochMs + 1)
            _ = try await store.resolve(transactionId: "txn-2", resolution: .rollback, source: .producer, actor: nil, at: epochMs + 2)
            _ = try await store.markCheckSent(
                transactionId: "txn-4", clientId: "client-1", at: epochMs + 3, answerDeadlineMs: epochMs + 3_003)
            try await store.setAppliedEventOffset(10)

            // txn-1's commit was in the tail; txn-2's rollback was not; txn-3 was committed in the tail too.
            _ = try await store.resolve(transactionId: "txn-3", resolution: .commit, source: .producer, actor: nil, at: epochMs + 4)
            let forgotten = try await store.forgetLogTail(
                from: 3_072, reopening: ["txn-1", "txn-3"], eventOffset: 6, at: epochMs + 50)
            #expect(forgotten == .init(halvesDropped: 2, resolutionsUndone: 1))

            #expect(try await store.transaction(id: "txn-3") == nil)
            #expect(try await store.transaction(id: "txn-4") == nil)
            #expect(try await store.checkHistory(transactionId: "txn-4").isEmpty)
            let reopened = try #require(try await store.transaction(id: "txn-1"))
            #expect(reopened.state == .prepared)
            #expect(reopened.resolvedAtMs == nil)
            #expect(reopened.resolutionSource == nil)
            #expect(reopened.nextCheckAtMs == epochMs + 50)
            #expect(try #require(try await store.transaction(id: "txn-2")).state == .rolledBack)
            #expect(try await store.appliedEventOffset() == 6)
            #expect(try await store.dueForCheck(now: epochMs + 50, limit: 10).map(\.transactionId) == ["txn-1"])
            #expect(try await store.oldestPendingCommitLogOffset() == 1_024)

            // Again (a crash before the log was cut replays the tail, then this runs again).
            let again = try await store.forgetLogTail(from: 3_072, reopening: ["txn-1", "txn-3"], eventOffset: 6, at: epochMs + 60)
            #expect(again == .init(halvesDropped: 0, resolutionsUndone: 0))
            #expect(try #require(try await store.transaction(id: "txn-1")).nextCheckAtMs == epochMs + 50)
        }
    }

    @Test("the watermark never rises")
    func watermarkOnlyDrops() async throws {
        try await withStore { store in
            try await store.setAppliedEventOffset(3)
            _ = try await store.forgetLogTail(from: 0, reopening: [], eventOffset: 9, at: epochMs)
            #expect(try await store.appliedEventOffset() == 3)
        }
    }
}
