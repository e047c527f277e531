import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// A commit log and transaction table in a temp folder, wired through a coordinator.
struct TransactionFixture {
    let directory: String
    let log: CommitLog
    let store: TransactionStateStore
    let coordinator: TransactionCoordinator

    static let logger: Logger = {
        var logger = Logger(label: "txn-test")
        logger.logLevel = .critical
        return logger
    }()

    /// Half messages written to the table at once (0) or held in memory for 500 ms first.
    static let halfTableDelays = [0, 500]

    static func open(
        _ directory: String, segmentSize: Int = 1 << 20, retentionAge: Duration = .seconds(3600),
        halfTableDelayMs: Int = 0, decisionDurability: AppendDurability = .policy,
        deferredSyncDelay: Duration = .milliseconds(5)
    ) async throws -> TransactionFixture {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.deferredSyncDelay = deferredSyncDelay
        configuration.segmentSizeBytes = segmentSize
        configuration.retention.maxAge = retentionAge
        configuration.retention.maxDiskUsedFraction = 1.0
        configuration.checkpointInterval = .seconds(3600)
        let log = try await CommitLog.open(configuration, logger: logger)
        let store = try await TransactionStateStore.open(path: directory + "/transactions.sqlite", now: WallClock.nowMs())
        let coordinator = TransactionCoordinator(
            log: log, store: store, logger: logger, nowMs: { WallClock.nowMs() },
            halfTableDelay: halfTableDelayMs > 0 ? .milliseconds(halfTableDelayMs) : nil,
            decisionDurability: decisionDurability)
        _ = try await coordinator.reconcile()
        return TransactionFixture(directory: directory, log: log, store: store, coordinator: coordinator)
    }

    func close() async throws {
        await coordinator.flushDeferredHalves(all: true)
        await coordinator.maintain()
        try await store.close()
        await log.close()
    }

    func half(_ text: String, id: String, client: String = "client-1", topic: String = "payments") -> HalfMessage {
        HalfMessage(
            message: MessageRecord(
                topic: topic, queueId: 2, messageId: id, tags: "paid", keys: ["order-\(id)"],
                properties: [("user-prop", "u")], body: ByteBuffer(string: text), bornTimestampMs: 1),
            producerGroup: "pg", clientId: client)
    }

    /// Records in the target queue carrying `messageId`.
    func visibleCopies(of messageId: String, topic: String = "payments", queueId: UInt32 = 2) throws -> [StoredRecord] {
        let queue = QueueID(topic: topic, queueId: queueId)
        return try log.queueEntries(queue, from: 0, maxCount: 100_000).map { try log.read($0, of: queue) }
            .filter { $0.messageId == messageId }
    }
}

@Suite("transaction coordinator: half, commit, rollback across log and table")
struct TransactionCoordinatorTests {
    @Test("a half message is invisible; commit makes it visible once with its id, keys, tags and properties", arguments: TransactionFixture.halfTableDelays)
    func commitMakesVisibleOnce(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("pay 10", id: "M1"))
            #expect(prepared.isNew)
            #expect(try fixture.visibleCopies(of: "M1").isEmpty)
            #expect(try await fixture.coordinator.transaction(id: prepared.transactionId)?.state == .prepared)

            #expect(try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: "client-1") == .applied)
            let copies = try fixture.visibleCopies(of: "M1")
            #expect(copies.count == 1)
            let copy = try #require(copies.first)
            #expect(String(buffer: copy.body) == "pay 10")
            #expect(copy.message.keys == ["order-M1"])
            #expect(copy.message.tags == "paid")
            #expect(copy.userProperties.map(\.0) == ["user-prop"])
            #expect(copy.message.flags & RecordFlag.committed != 0)

            // Repeating is an idempotent success and appends nothing.
            #expect(try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil) == .alreadyResolved)
            #expect(try fixture.visibleCopies(of: "M1").count == 1)
            // The opposite is refused, clearly.
            do throws(BrokerError) {
                _ = try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .rollback, source: .producer, actor: nil)
                Issue.record("rollback after commit was accepted")
            } catch {
                #expect(error.code == .transactionConflict)
                #expect(error.message.contains("rollback after commit"))
            }
            try await fixture.close()
        }
    }

    @Test("rollback never delivers, and commit after rollback is refused", arguments: TransactionFixture.halfTableDelays)
    func rollback(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "M2"))
            #expect(try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .rollback, source: .producer, actor: nil) == .applied)
            await #expect(throws: BrokerError.self) {
                _ = try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .commit, source: .check, actor: nil)
            }
            #expect(try fixture.visibleCopies(of: "M2").isEmpty)
            #expect(try await fixture.coordinator.transaction(id: prepared.transactionId)?.state == .rolledBack)
            try await fixture.close()
        }
    }

    @Test("unknown transaction ids get a clear not-found error", arguments: TransactionFixture.halfTableDelays)
    func unknown(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            do throws(BrokerError) {
                _ = try await fixture.coordinator.end(transactionId: "nope", resolution: .commit, source: .producer, actor: nil)
                Issue.record("unknown id accepted")
            } catch {
                #expect(error.code == .transactionNotFound)
                #expect(error.message.contains("nope"))
            }
            try await fixture.close()
        }
    }

    @Test("refused before anything is stored: system topics, a missing client id, an unnamed operator", arguments: TransactionFixture.halfTableDelays)
    func refusedUpFront(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "V0"))
            let eventsBefore = fixture.log.queueBounds(TransactionEvent.queue).next
            for topic in ["RMQ_SYS_TRANS_HALF_TOPIC", "%DLQ%group"] {
                await #expect(throws: BrokerError.self) { _ = try await fixture.coordinator.prepare(fixture.half("x", id: "V1", topic: topic)) }
            }
            await #expect(throws: BrokerError.self) { _ = try await fixture.coordinator.prepare(fixture.half("x", id: "V2", client: "")) }
            do throws(BrokerError) {
                _ = try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .rollback, source: .operator, actor: "")
                Issue.record("an operator resolution without a name was accepted")
            } catch {
                #expect(error.code == .invalidMessage)
            }
            #expect(fixture.log.queueBounds(TransactionEvent.queue).next == eventsBefore)
            #expect(try await fixture.coordinator.transaction(id: prepared.transactionId)?.state == .prepared)
            try await fixture.close()
        }
    }

    @Test("a retried half-send with the same client, topic and message id returns the same transaction", arguments: TransactionFixture.halfTableDelays)
    func idempotentHalf(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let first = try await fixture.coordinator.prepare(fixture.half("x", id: "M3"))
            let again = try await fixture.coordinator.prepare(fixture.half("x", id: "M3"))
            #expect(!again.isNew)
            #expect(again.transactionId == first.transactionId)
            #expect(again.commitLogOffset == first.commitLogOffset)
            try await fixture.close()
        }
    }

    @Test("fifty concurrent commits of one transaction append exactly one copy", arguments: TransactionFixture.halfTableDelays)
    func concurrentCommits(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "M4"))
            let outcomes = try await withThrowingTaskGroup(of: EndOutcome.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await fixture.coordinator.end(
                            transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .applied }.count == 1)
            #expect(try fixture.visibleCopies(of: "M4").count == 1)
            try await fixture.close()
        }
    }

    @Test("a lost table is rebuilt from the log: pending, committed and rolled-back states return", arguments: TransactionFixture.halfTableDelays)
    func rebuildFromLog(delayMs: Int) async throws {
        try await withTemporaryDirectory { directory in
            var ids: [String] = []
            do {
                let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
                for index in 0..<3 { ids.append(try await fixture.coordinator.prepare(fixture.half("x", id: "R\(index)")).transactionId) }
                _ = try await fixture.coordinator.end(transactionId: ids[1], resolution: .commit, source: .producer, actor: nil)
                _ = try await fixture.coordinator.end(transactionId: ids[2], resolution: .rollback, source: .operator, actor: "ops", reason: "bad")
                try await fixture.close()
            }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory + "/transactions.sqlite" + suffix) }
            let fixture = try await TransactionFixture.open(directory, halfTableDelayMs: delayMs)
            #expect(try await fixture.coordinator.transaction(id: ids[0])?.state == .prepared)
            #expect(try await fixture.coordinator.transaction(id: ids[1])?.state == .committed)
            let rolledBack = try await fixture.coordinator.transaction(id: ids[2])
            #expect(rolledBack?.state == .rolledBack)
            #expect(rolledBack?.resolutionSource == .operator)
            #expect(rolledBack?.resolvedBy == "ops")
            #expect(try fixture.visibleCopies(of: "R1").count == 1)
            // Committing the rebuilt pending one still works, once.
            _ = try await fixture.coordinator.end(transactionId: ids[0], resolution: .commit, source: .producer, actor: nil)
            #expect(try fixture.visibleCopies(of: "R0").count == 1)
            try await fixture.close()
        }
    }

    @Test("retention keeps the segment of the oldest pending half message")
    func pin() async throws {
        try await withTemporaryDirectory { directory in
            // Every sealed segment is past its age; only the pin can keep one.
            let fixture = try await TransactionFixture.open(directory, segmentSize: 4096, retentionAge: .zero)
            var committed: [PreparedHalf] = []
            for index in 0..<10 {
                let done = try await fixture.coordinator.prepare(fixture.half(String(repeating: "c", count: 500), id: "C\(index)"))
                _ = try await fixture.coordinator.end(transactionId: done.transactionId, resolution: .commit, source: .producer, actor: nil)
                committed.append(done)
            }
            let pending = try await fixture.coordinator.prepare(fixture.half("pending", id: "P1"))
            for index in 0..<10 {
                let done = try await fixture.coordinator.prepare(fixture.half(String(repeating: "d", count: 500), id: "D\(index)"))
                _ = try await fixture.coordinator.end(transactionId: done.transactionId, resolution: .rollback, source: .producer, actor: nil)
            }
            await fixture.coordinator.maintain()
            let report = await fixture.log.enforceRetention()
            #expect(!report.deletedSegments.isEmpty)
            #expect(report.blockedByPin)
            #expect(throws: StorageError.self) { _ = try fixture.log.read(at: committed[0].commitLogOffset) }
            _ = try fixture.log.read(at: pending.commitLogOffset)
            // Once resolved, the pin lets go.
            _ = try await fixture.coordinator.end(transactionId: pending.transactionId, resolution: .rollback, source: .producer, actor: nil)
            await fixture.coordinator.maintain()
            #expect(await !fixture.log.enforceRetention().deletedSegments.isEmpty)
            #expect(throws: StorageError.self) { _ = try fixture.log.read(at: pending.commitLogOffset) }
            try await fixture.close()
        }
    }
}

@Suite("check budget policy")
struct PolicyBudgetHandlerTests {
    @Test("policy park parks; policy rollback writes a rollback event and never delivers", arguments: [CheckBudgetPolicy.park, .rollback])
    func policy(policy: CheckBudgetPolicy) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await TransactionFixture.open(directory)
            let prepared = try await fixture.coordinator.prepare(fixture.half("x", id: "B1"))
            let record = try #require(try await fixture.store.transaction(id: prepared.transactionId))
            await PolicyBudgetHandler(policy: policy, coordinator: fixture.coordinator, logger: TransactionFixture.logger)
                .checkBudgetExhausted(record)
            let after = try await fixture.store.transaction(id: prepared.transactionId)
            #expect(after?.state == (policy == .park ? .parked : .rolledBack))
            #expect(after?.resolutionSource == .policy)
            #expect(try fixture.visibleCopies(of: "B1").isEmpty)
            // A parked transaction can still be committed by its producer.
            if policy == .park {
                #expect(try await fixture.coordinator.end(transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: nil) == .applied)
                #expect(try fixture.visibleCopies(of: "B1").count == 1)
            }
            try await fixture.close()
        }
    }
}
