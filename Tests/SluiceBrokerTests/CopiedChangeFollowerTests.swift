import Logging
import NIOCore
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@testable import SluiceBroker

/// The follower of a change queue reads in batches: a replay and a cut's look-back both see every
/// record in order without holding the queue in memory.
@Suite("CopiedChangeFollower: replay and look-back in batches")
struct CopiedChangeFollowerTests {
    @Test("a queue longer than a batch: replay applies each record once in order; the look-back sees them all, in order")
    func batches() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            var logger = Logger(label: "follower-test")
            logger.logLevel = .critical
            let queue = QueueID(topic: "changes", queueId: 0)
            let follower = CopiedChangeFollower<Set<String>>(queue: queue, batch: 4, label: "test", logger: logger)
            for index in 0..<11 { try await stack.send("changes", body: "change-\(index)") }
            let expected = (0..<11).map { "change-\($0)" }

            var applied: [String] = []
            let read = try await follower.replay(stack.log) { (record: StoredRecord) throws(BrokerError) in
                applied.append(String(buffer: record.body))
            }
            #expect(read == 11)
            #expect(applied == expected)
            // Caught up: nothing more until something new is appended.
            #expect(try await follower.replay(stack.log) { (_: StoredRecord) throws(BrokerError) in } == 0)

            var seen: [String] = []
            follower.forEachRemainingRecord(stack.log) { seen.append(String(buffer: $0.body)) }
            #expect(seen == expected)
            await stack.close()
        }
    }

    static func follower(_ queue: QueueID, cursors: JournalCursorTable?) -> CopiedChangeFollower<Set<String>> {
        var logger = Logger(label: "follower-test")
        logger.logLevel = .critical
        return CopiedChangeFollower<Set<String>>(queue: queue, batch: 4, label: "test", logger: logger, cursors: cursors)
    }

    @Test("the cursor is stored: a restart replays only what came after; a leader passes its own records; a cut moves it back, stored")
    func storedCursor() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            let path = directory + "/transactions.sqlite"
            let executor = try await SQLiteExecutor.open(path: path)
            let queue = QueueID(topic: "changes", queueId: 0)
            let table = JournalCursorTable(executor: executor, queue: queue.topic)
            func replay(_ follower: CopiedChangeFollower<Set<String>>) async throws -> [String] {
                var applied: [String] = []
                _ = try await follower.replay(stack.log) { (record: StoredRecord) throws(BrokerError) in
                    applied.append(String(buffer: record.body))
                }
                return applied
            }
            for index in 0..<6 { try await stack.send("changes", body: "c\(index)") }

            let first = Self.follower(queue, cursors: table)
            #expect(try await replay(first) == ["c0", "c1", "c2", "c3", "c4", "c5"], "nothing stored: from the start")
            #expect(await table.load() == 6)

            // A restart: only what came after the stored cursor.
            try await stack.send("changes", body: "c6")
            let restarted = Self.follower(queue, cursors: table)
            #expect(try await replay(restarted) == ["c6"])
            #expect(await table.load() == 7)

            // A leader applied its own records as it made them: its cursor moves past them unread,
            // but only once its first replay ran (before it, records may not be applied yet).
            let leader = Self.follower(queue, cursors: table)
            try await stack.send("changes", body: "c7")
            await leader.passOwnRecords(stack.log)
            #expect(await table.load() == 7, "no pass before the first replay")
            #expect(try await replay(leader) == ["c7"])
            try await stack.send("changes", body: "c8")
            try await stack.send("changes", body: "c9")
            await leader.passOwnRecords(stack.log)
            #expect(await table.load() == 10)
            #expect(try await replay(Self.follower(queue, cursors: table)) == [], "a restart after the pass reads nothing")

            // A cut tail: the cursor comes back to the new end and is stored; records copied
            // there later are applied.
            let cutAt = try #require(stack.log.queueEntries(queue, from: 8, maxCount: 1).first).physicalOffset
            leader.noteCut(stack.log, from: cutAt, names: { Set($0.map { String(buffer: $0.body) }) }, merge: { $0.union($1) })
            try await stack.log.truncate(to: cutAt)
            #expect(await leader.endCut(stack.log) == ["c8", "c9"])
            #expect(await table.load() == 8)
            try await stack.send("changes", body: "d8")
            #expect(try await replay(leader) == ["d8"])

            // A stored cursor past the queue's end (cut while the broker was down) comes back to it.
            try await table.store(50, synced: false)
            let late = Self.follower(queue, cursors: table)
            #expect(try await replay(late) == [])
            #expect(await table.load() == 9)
            try await stack.send("changes", body: "d9")
            #expect(try await replay(late) == ["d9"])

            try await executor.close()
            await stack.close()
        }
    }
}
