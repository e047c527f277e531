import Testing

@testable import SluiceTransactions

@Suite("TransactionStateStore concurrency")
struct StoreConcurrencyTests {
    @Test("1,000 concurrent prepares land once each, batched into fewer SQLite transactions than writes")
    func concurrentPreparesAreBatched() async throws {
        try await withStore { store in
            let gate = ExecutorGate()
            let held = await gate.hold(store.executor)
            let before = store.committedTransactionCount
            try await withThrowingTaskGroup(of: RecordPreparedResult.self) { group in
                for number in 0..<1_000 {
                    group.addTask { try await store.recordPrepared(prepared(number)) }
                }
                await waitUntilQueued(store.executor, count: 1_000)
                gate.release()
                var inserted = 0
                for try await result in group {
                    if case .inserted = result { inserted += 1 }
                }
                #expect(inserted == 1_000)
            }
            try await held.value
            let transactions = store.committedTransactionCount - before
            #expect(transactions < 1_000)
            // The gate's own transaction plus ceil(1000 / 512) batches.
            #expect(transactions == 3)
            #expect(try await store.countsByState()[.prepared] == 1_000)
        }
    }

    @Test("a failing write inside a batch does not sink its neighbours")
    func failureIsolatedInBatch() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(0))
            let gate = ExecutorGate()
            let held = await gate.hold(store.executor)
            let before = store.committedTransactionCount
            var clash = prepared(99)
            clash.transactionId = "txn-0"  // reuses an id: fails inside the batch
            let clashing = clash
            let good1 = Task { try await store.recordPrepared(prepared(1)) }
            let bad = Task { try await store.recordPrepared(clashing) }
            let good2 = Task { try await store.recordPrepared(prepared(2)) }
            let conflicting = Task {
                try await store.resolve(
                    transactionId: "txn-0", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            }
            await waitUntilQueued(store.executor, count: 4)
            gate.release()
            #expect(try await good1.value == .inserted(transactionId: "txn-1"))
            #expect(try await good2.value == .inserted(transactionId: "txn-2"))
            let error = try await #require(throws: TransactionStoreError.self) { try await bad.value }
            #expect(error.code == .duplicateTransactionId)
            #expect(try await conflicting.value == .applied(from: .prepared, to: .committed))
            try await held.value
            #expect(store.committedTransactionCount - before == 2)
            #expect(try await store.transaction(id: "txn-0")?.messageId == "msg-0")
            #expect(try await store.countsByState() == [.prepared: 2, .committed: 1, .rolledBack: 0, .parked: 0])
        }
    }

    @Test("concurrent writes without a gate all land")
    func ungatedConcurrentWrites() async throws {
        try await withStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<500 {
                    group.addTask {
                        _ = try await store.recordPrepared(prepared(number))
                        _ = try await store.resolve(
                            transactionId: "txn-\(number)", resolution: number.isMultiple(of: 2) ? .commit : .rollback,
                            source: .producer, actor: nil, at: epochMs)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.countsByState() == [.prepared: 0, .committed: 250, .rolledBack: 250, .parked: 0])
            #expect(store.committedTransactionCount <= 1_000)
        }
    }
}
