import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("half messages held in memory before the table: one final row, crash-safe, retries recognised")
struct DeferredHalvesTests {
    /// Long enough that nothing is flushed unless a test asks.
    static let holdMs = 60_000

    @Test("a producer's decision answered before its sync: unreadable until synced, its row never in the table before the log syncs")
    func decisionWithDeferredSync() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(
                directory, halfTableDelayMs: Self.holdMs, decisionDurability: .deferred,
                deferredSyncDelay: .seconds(3600))
            let first = try await fixture.coordinator.prepare(fixture.half("pay", id: "S1"))
            let flushedAfterHalf = fixture.log.flushedOffset
            #expect(flushedAfterHalf > UInt64(first.commitLogOffset), "a half is synced before it is answered")
            #expect(
                try await fixture.coordinator.end(
                    transactionId: first.transactionId, resolution: .commit, source: .producer, actor: "client-1")
                    == .applied)
            // Answered, resolved in memory, but not synced: no consumer may see the commit copy.
            #expect(fixture.log.flushedOffset == flushedAfterHalf)
            #expect(try await fixture.coordinator.transaction(id: first.transactionId)?.state == .committed)
            #expect(try fixture.visibleCopies(of: "S1").isEmpty)

            // The next half's sync covers the decision.
            let second = try await fixture.coordinator.prepare(fixture.half("pay", id: "S2"))
            #expect(try fixture.visibleCopies(of: "S1").count == 1)

            // A decision not yet synced when the table is written: the flush syncs the log first.
            #expect(
                try await fixture.coordinator.end(
                    transactionId: second.transactionId, resolution: .commit, source: .producer, actor: "client-1")
                    == .applied)
            let unsynced = fixture.log.flushedOffset
            await fixture.coordinator.flushDeferredHalves()
            #expect(fixture.log.flushedOffset > unsynced, "the final row was written before its decision was synced")
            #expect(try await fixture.store.transaction(id: second.transactionId)?.state == .committed)
            #expect(try await fixture.store.transaction(id: first.transactionId)?.state == .committed)
            #expect(try fixture.visibleCopies(of: "S2").count == 1)
            try await fixture.close()
        }
    }

    @Test("a transaction ended while its half is held writes one row, already final")
    func endWhileHeld() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: Self.holdMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("pay", id: "D1"))
            #expect(try await fixture.store.transaction(id: prepared.transactionId) == nil)
            let held = try #require(try await fixture.coordinator.transaction(id: prepared.transactionId))
            #expect(held.state == .prepared)
            #expect(held.clientId == "client-1")
            #expect(held.nextCheckAtMs != nil)

            #expect(
                try await fixture.coordinator.end(
                    transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: "client-1")
                    == .applied)
            // The end answered from the log; the row waits for the next flush, and meanwhile the
            // coordinator (EndTransaction's ownership check, the admin API) sees it resolved.
            #expect(try await fixture.store.transaction(id: prepared.transactionId) == nil)
            #expect(try await fixture.coordinator.transaction(id: prepared.transactionId)?.state == .committed)
            #expect(
                try await fixture.coordinator.end(
                    transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil)
                    == .alreadyResolved)
            await #expect(throws: BrokerError.self) {
                try await fixture.coordinator.end(
                    transactionId: prepared.transactionId, resolution: .rollback, source: .producer, actor: nil)
            }
            #expect(try fixture.visibleCopies(of: "D1").count == 1)
            await fixture.coordinator.flushDeferredHalves()
            let row = try #require(try await fixture.store.transaction(id: prepared.transactionId))
            #expect(row.state == .committed)
            #expect(row.resolutionSource == .producer)
            #expect(row.resolvedBy == "client-1")
            #expect(row.resolvedAtMs != nil)
            #expect(row.nextCheckAtMs == nil)
            #expect(row.commitLogOffset == Int64(prepared.commitLogOffset))
            #expect(try fixture.visibleCopies(of: "D1").count == 1)
            // Nothing is left to flush, and repeating is answered from the table.
            await fixture.coordinator.flushDeferredHalves(all: true)
            #expect(
                try await fixture.coordinator.end(
                    transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil)
                    == .alreadyResolved)
            #expect(try fixture.visibleCopies(of: "D1").count == 1)
            try await fixture.close()
        }
    }

    @Test("a half still unresolved after the delay is written as prepared and ends the ordinary way")
    func flushedAfterDelay() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: 1)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "D2"))
            try await Task.sleep(for: .milliseconds(20))
            await fixture.coordinator.flushDeferredHalves()
            #expect(try await fixture.store.transaction(id: prepared.transactionId)?.state == .prepared)
            _ = try await fixture.coordinator.end(
                transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil)
            #expect(try await fixture.store.transaction(id: prepared.transactionId)?.state == .committed)
            #expect(try fixture.visibleCopies(of: "D2").count == 1)
            try await fixture.close()
        }
    }

    @Test("an operator resolving a held half writes it first, then resolves it with an audit row")
    func operatorOnHeldHalf() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: Self.holdMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "D3"))
            #expect(
                try await fixture.coordinator.end(
                    transactionId: prepared.transactionId, resolution: .rollback, source: .operator, actor: "ops",
                    reason: "stuck") == .applied)
            let row = try #require(try await fixture.store.transaction(id: prepared.transactionId))
            #expect(row.state == .rolledBack)
            #expect(row.resolutionSource == .operator)
            let audit = try await fixture.store.auditLog(transactionId: prepared.transactionId)
            #expect(audit.contains { $0.actor == "ops" && $0.action == "resolve.rollback" })
            #expect(try fixture.visibleCopies(of: "D3").isEmpty)
            try await fixture.close()
        }
    }

    @Test("a crash with halves held in memory loses nothing: the log replays them into the table")
    func crashWhileHeld() async throws {
        try await withTemporaryDirectory { directory in
            var pending = ""
            var committed = ""
            do {
                let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: Self.holdMs)
                pending = try await fixture.coordinator.prepare(fixture.half("a", id: "DA")).transactionId
                committed = try await fixture.coordinator.prepare(fixture.half("b", id: "DB")).transactionId
                _ = try await fixture.coordinator.end(
                    transactionId: committed, resolution: .commit, source: .producer, actor: nil)
                // The persisted watermark must stay below the held half's event.
                await fixture.coordinator.maintain()
                #expect(try await fixture.store.transaction(id: pending) == nil)
                // No flush: as if the process died here.
                try await fixture.store.close()
                await fixture.log.close()
            }
            let fixture = try await TransactionFixture.open(directory)
            #expect(try await fixture.store.transaction(id: pending)?.state == .prepared)
            #expect(try await fixture.store.transaction(id: committed)?.state == .committed)
            #expect(try fixture.visibleCopies(of: "DB").count == 1)
            #expect(try fixture.visibleCopies(of: "DA").isEmpty)
            try await fixture.close()
        }
    }

    @Test("a retried half-send is recognised while held, after the flush, and across a restart")
    func retriesRecognised() async throws {
        try await withTemporaryDirectory { directory in
            var first = ""
            do {
                let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: 1)
                let original = try await fixture.coordinator.prepare(fixture.half("x", id: "DR"))
                first = original.transactionId
                let whileHeld = try await fixture.coordinator.prepare(fixture.half("x", id: "DR"))
                #expect(!whileHeld.isNew)
                #expect(whileHeld.transactionId == first)
                #expect(whileHeld.commitLogOffset == original.commitLogOffset)
                try await Task.sleep(for: .milliseconds(20))
                await fixture.coordinator.flushDeferredHalves()
                #expect(try await fixture.store.transaction(id: first) != nil)
                let afterFlush = try await fixture.coordinator.prepare(fixture.half("x", id: "DR"))
                #expect(!afterFlush.isNew)
                #expect(afterFlush.transactionId == first)
                try await fixture.close()
            }
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: Self.holdMs)
            let afterRestart = try await fixture.coordinator.prepare(fixture.half("x", id: "DR"))
            #expect(!afterRestart.isNew)
            #expect(afterRestart.transactionId == first)
            // A different message from the same client is new.
            #expect(try await fixture.coordinator.prepare(fixture.half("y", id: "DS")).isNew)
            try await fixture.close()
        }
    }

    @Test("many transactions ended concurrently while held: one copy each, all rows final")
    func concurrentWhileHeld() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: Self.holdMs)
            let ids = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for index in 0..<64 {
                    group.addTask {
                        let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "DC\(index)"))
                        let resolution: TransactionResolution = index % 2 == 0 ? .commit : .rollback
                        _ = try await fixture.coordinator.end(
                            transactionId: prepared.transactionId, resolution: resolution, source: .producer, actor: nil)
                        return ("DC\(index)", prepared.transactionId)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            // One flush writes all 64 final rows (one SQLite transaction, not one per end).
            await fixture.coordinator.flushDeferredHalves()
            for index in 0..<64 {
                let row = try #require(try await fixture.store.transaction(id: ids["DC\(index)"]!))
                #expect(row.state == (index % 2 == 0 ? .committed : .rolledBack))
                #expect(try fixture.visibleCopies(of: "DC\(index)").count == (index % 2 == 0 ? 1 : 0))
            }
            try await fixture.close()
        }
    }
}
