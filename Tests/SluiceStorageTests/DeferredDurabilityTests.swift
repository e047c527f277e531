import Synchronization
import SluiceStorage
import SluiceTesting
import Testing

/// `AppendDurability.deferred` under sync flush: an append answered before its `fdatasync`, which
/// nobody may read (queue entries, look-ups by key, consumers) until a later sync covers it.
@Suite("commit log: deferred durability")
struct DeferredDurabilityTests {
    @Test("a deferred append completes without a sync and stays unreadable until the next policy append's sync")
    func sharesTheNextSync() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            configuration.deferredSyncDelay = .seconds(3600)  // only another append may sync it
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            let queue = QueueID(topic: "orders", queueId: 0)
            let woken = Mutex<[[QueueID]]>([])
            _ = log.addAppendListener { queues in woken.withLock { $0.append(queues) } }
            let syncsBefore = log.statistics.syncs

            let deferred = try await log.append(message("decision", keys: ["k-1"]), durability: .deferred)
            #expect(log.statistics.syncs == syncsBefore, "a deferred append must not sync by itself")
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).isEmpty)
            #expect(log.lookup(key: "k-1").isEmpty)
            #expect(log.endOffset == deferred.physicalOffset, "the readable end must stay before it")
            #expect(log.flushedOffset <= deferred.physicalOffset)
            #expect(throws: StorageError.self) { try log.read(at: deferred.physicalOffset) }
            #expect(woken.withLock { $0 }.isEmpty, "nobody may be woken for an unreadable record")

            let synced = try await log.append(message("half", topic: "audit"))
            #expect(log.statistics.syncs == syncsBefore + 1, "one sync covers both")
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).map(\.queueOffset) == [0])
            #expect(try bodyText(log.read(at: deferred.physicalOffset)) == "decision")
            #expect(log.lookup(key: "k-1").count == 1)
            #expect(log.flushedOffset == synced.physicalOffset + UInt64(synced.size))
            #expect(woken.withLock { $0 }.flatMap { $0 }.contains(queue))
            await log.close()
        }
    }

    @Test("alone, a deferred append is synced and made readable after deferredSyncDelay")
    func deadline() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            configuration.deferredSyncDelay = .milliseconds(30)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            let queue = QueueID(topic: "orders", queueId: 0)
            let started = ContinuousClock.now
            let first = try await log.append(message("one"), durability: .deferred)
            let second = try await log.append(message("two"), durability: .deferred)
            #expect(second.queueOffset == first.queueOffset + 1)
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).isEmpty || ContinuousClock.now - started >= .milliseconds(30))
            var readable: [UInt64] = []
            for _ in 0..<200 where readable.count < 2 {
                try await Task.sleep(for: .milliseconds(10))
                readable = log.queueEntries(queue, from: 0, maxCount: 10).map(\.queueOffset)
            }
            #expect(readable == [0, 1])
            #expect(ContinuousClock.now - started >= .milliseconds(30), "made readable before its deadline")
            #expect(log.flushedOffset == second.physicalOffset + UInt64(second.size))
            await log.close()
        }
    }

    @Test("syncDeferred syncs at once when something waits, and does nothing when nothing does")
    func syncNow() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            configuration.deferredSyncDelay = .seconds(3600)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            let queue = QueueID(topic: "orders", queueId: 0)
            _ = try await log.append(message("synced"))
            let syncs = log.statistics.syncs
            try await log.syncDeferred()
            #expect(log.statistics.syncs == syncs, "nothing deferred: no sync")

            let deferred = try await log.append(message("decision"), durability: .deferred)
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).count == 1)
            try await log.syncDeferred()
            #expect(log.statistics.syncs == syncs + 1)
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).count == 2)
            #expect(log.flushedOffset == deferred.physicalOffset + UInt64(deferred.size))
            await log.close()
        }
    }

    @Test("a deferred append not yet synced is synced by close and found after a reopen")
    func survivesReopen() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            configuration.deferredSyncDelay = .seconds(3600)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            let appended = try await log.append(message("decision", id: "M-1"), durability: .deferred)
            await log.close()  // the final flush syncs it
            let reopened = try await CommitLog.open(configuration, logger: quietLogger)
            #expect(try reopened.read(at: appended.physicalOffset).messageId == "M-1")
            #expect(reopened.queueEntries(QueueID(topic: "orders", queueId: 0), from: 0, maxCount: 10).count == 1)
            await reopened.close()
        }
    }

    @Test("under async flush a deferred append is an ordinary one: readable at once")
    func asyncFlushIgnoresIt() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(
                testConfiguration(directory, flush: .async(interval: .seconds(3600))), logger: quietLogger)
            _ = try await log.append(message("decision"), durability: .deferred)
            #expect(log.queueEntries(QueueID(topic: "orders", queueId: 0), from: 0, maxCount: 10).count == 1)
            await log.close()
        }
    }
}
