import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// `forgetLogTail(from:)` then `CommitLog.truncate(to:)`, as a replica cutting a divergent tail
/// does (docs/architecture.md §15): what the tail's events did to the table is undone.
@Suite("transaction coordinator: a cut log tail")
struct TransactionTailTests {
    @Test("a commit in the tail reopens its half, a half in the tail is forgotten, and the log goes on from the cut", arguments: TransactionFixture.halfTableDelays)
    func cutTail(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let kept = try await fixture.coordinator.prepare(fixture.half("kept", id: "M1"))
            await fixture.coordinator.flushDeferredHalves(all: true)
            let cut = fixture.log.endOffset
            // The tail: kept's commit and a new half.
            #expect(try await fixture.coordinator.end(transactionId: kept.transactionId, resolution: .commit, source: .producer, actor: nil) == .applied)
            let lost = try await fixture.coordinator.prepare(fixture.half("lost", id: "M2"))
            await fixture.coordinator.flushDeferredHalves(all: true)
            #expect(try await fixture.coordinator.transaction(id: lost.transactionId)?.state == .prepared)

            let forgotten = try await fixture.coordinator.forgetLogTail(from: cut)
            #expect(forgotten == .init(halvesDropped: 1, resolutionsUndone: 1))
            try await fixture.log.truncate(to: cut)
            await fixture.coordinator.copiedLogTruncated()

            #expect(try await fixture.coordinator.transaction(id: kept.transactionId)?.state == .prepared)
            #expect(try await fixture.coordinator.transaction(id: lost.transactionId) == nil)
            #expect(try fixture.visibleCopies(of: "M1").isEmpty)
            // The half is undecided again: a rollback now stands.
            #expect(try await fixture.coordinator.end(transactionId: kept.transactionId, resolution: .rollback, source: .check, actor: nil) == .applied)
            #expect(try await fixture.coordinator.transaction(id: kept.transactionId)?.state == .rolledBack)
            try await fixture.close()
        }
    }

    @Test("a half still held in memory whose commit is in the tail, its final row not yet written, is prepared again")
    func heldHalfCommittedInTail() async throws {
        try await withTemporaryDirectory { directory in
            // A hold long enough that nothing is flushed unless the test asks.
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: 60_000)
            let held = try await fixture.coordinator.prepare(fixture.half("held", id: "M3"))
            let cut = fixture.log.endOffset
            // The tail: only the commit. Its row waits for the next flush.
            #expect(try await fixture.coordinator.end(transactionId: held.transactionId, resolution: .commit, source: .producer, actor: nil) == .applied)
            #expect(try await fixture.coordinator.transaction(id: held.transactionId)?.state == .committed)

            let forgotten = try await fixture.coordinator.forgetLogTail(from: cut)
            #expect(forgotten.halvesDropped == 0)
            try await fixture.log.truncate(to: cut)
            await fixture.coordinator.copiedLogTruncated()
            #expect(try await fixture.coordinator.transaction(id: held.transactionId)?.state == .prepared)
            // The flush writes it as prepared, not committed.
            await fixture.coordinator.flushDeferredHalves(all: true)
            #expect(try await fixture.store.transaction(id: held.transactionId)?.state == .prepared)
            #expect(try fixture.visibleCopies(of: "M3").isEmpty)
            try await fixture.close()
        }
    }
}

/// A row whose offset names another transaction's half (a log cut and rewritten by another
/// leader at the same place) must never commit that other message.
@Suite("transaction coordinator: a row whose half offset holds another transaction")
struct MismatchedHalfTests {
    @Test("a commit of a row pointing at another transaction's half is refused and copies nothing")
    func refusedCommit() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: 0)
            let real = try await fixture.coordinator.prepare(fixture.half("real", id: "R1"))
            // What the soak found: a stale row (kept from a cut tail) naming the same offset.
            let stale = PreparedTransaction(
                transactionId: "0000000000000000000000000000beef", messageId: "STALE", topic: "payments",
                clientId: "client-1", commitLogOffset: Int64(real.commitLogOffset), commitLogSize: 100, createdAtMs: WallClock.nowMs())
            _ = try await fixture.store.recordPrepared(batch: [stale])
            await #expect(throws: BrokerError.self) {
                try await fixture.coordinator.end(
                    transactionId: stale.transactionId, resolution: .commit, source: .check, actor: nil)
            }
            #expect(try fixture.visibleCopies(of: "R1").isEmpty)
            #expect(try await fixture.store.transaction(id: stale.transactionId)?.state == .prepared)
            // The real one still commits once.
            #expect(
                try await fixture.coordinator.end(transactionId: real.transactionId, resolution: .commit, source: .producer, actor: nil)
                    == .applied)
            #expect(try fixture.visibleCopies(of: "R1").count == 1)
            try await fixture.close()
        }
    }
}
