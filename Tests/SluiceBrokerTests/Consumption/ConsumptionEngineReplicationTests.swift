import Foundation
import Logging
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

/// The apply side of replicated consumer state (ConsumptionEngine+Replication.swift): a
/// follower's engine reads the consumer records of the log it shares with the leader (here: the
/// same log, another SQLite file) into its own tables.
@Suite("consumption: replicated groups, start positions and acks follow the log")
struct ConsumptionEngineReplicationTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    /// A follower's tables and engine over `log`, in their own SQLite file.
    struct Follower {
        let store: TransactionStateStore
        let topics: SQLiteTopicRegistry
        let engine: ConsumptionEngine

        static func open(_ path: String, log: CommitLog) async throws -> Follower {
            var logger = Logger(label: "follower")
            logger.logLevel = .critical
            let store = try await TransactionStateStore.open(path: path, now: WallClock.nowMs())
            let topics = try await SQLiteTopicRegistry.open(path: path, logger: logger)
            let engine = try await ConsumptionEngine.open(path: path, log: log, topics: topics, logger: logger)
            engine.replicate(leader: { "leader" }, topics: topics)
            return Follower(store: store, topics: topics, engine: engine)
        }

        func close() async {
            await engine.close()
            await topics.close()
            try? await store.close()
        }
    }

    func receive(_ engine: ConsumptionEngine, _ group: ConsumerGroup, _ topic: TopicDefinition) async throws -> [Delivery] {
        // Long enough that a loaded machine does not see a delivery come back mid-test.
        try await engine.receive(group: group, topic: topic, batch: 32, invisibleMs: 600_000, filter: .all, clientId: "c", firstQueue: 0)
    }

    /// A leader that records its consumer changes, with topic "t" of one queue.
    func replicatingLeader(_ directory: String) async throws -> (ConsumptionStack, TopicDefinition) {
        let leader = try await ConsumptionStack.open(directory)
        leader.engine.replicate(leader: { nil }, topics: leader.topics)
        return (leader, try await leader.topics.create(name: "t", type: .normal, queueCount: 1))
    }

    /// `replicatingLeader` whose group "g" (from the earliest) received message "a" and
    /// dead-lettered it, and a follower that has applied all that.
    func deadLetteredOne(_ directory: String) async throws -> (ConsumptionStack, Follower, TopicDefinition, ConsumerGroup) {
        let (leader, topic) = try await replicatingLeader(directory)
        let group = try await leader.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
        try await leader.send("t", body: "a")
        let delivered = try await receive(leader.engine, group, topic)
        try await leader.engine.forwardToDeadLetter(
            group: "g", topic: "t", receiptHandle: leader.engine.encode(delivered[0].handle, group: "g", topic: "t"))
        let follower = try await Follower.open(directory + "/follower.sqlite", log: leader.log)
        _ = try await follower.topics.create(name: "t", type: .normal, queueCount: 1)
        try await follower.engine.applyCopiedChanges()
        return (leader, follower, topic, group)
    }

    @Test("a follower learns the group, its start, the deliveries and the acks (one record per receive and per ack request); applying twice or after a restart changes nothing; the leader's handles settle the rest on it")
    func followerAppliesAcks() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, topic) = try await replicatingLeader(directory)
            let group = try await leader.engine.saveGroup(
                ConsumerGroup(name: "g", maxDeliveryAttempts: 4, createdAtMs: 7, consumeFrom: .earliest))
            for text in ["a", "b", "c", "d", "e", "f"] { try await leader.send("t", body: text) }
            let delivered = try await receive(leader.engine, group, topic)
            #expect(delivered.map(Self.body) == ["a", "b", "c", "d", "e", "f"])
            let acked = delivered.filter { ["a", "b", "d", "e"].contains(Self.body($0)) }.map {
                ConsumptionEngine.AckEntry(
                    messageId: $0.record.messageId, receiptHandle: leader.engine.encode($0.handle, group: "g", topic: "t"))
            }
            let results = await leader.engine.ack(group: "g", topic: "t", entries: acked)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            // group.save, subscribe, one deliver record (the receive), one ack record.
            try await leader.log.syncDeferred()
            #expect(leader.log.queueBounds(ConsumptionEngine.replicationQueue).next == 4)

            let path = directory + "/follower.sqlite"
            var follower = try await Follower.open(path, log: leader.log)
            _ = try await follower.topics.create(name: "t", type: .normal, queueCount: 1)
            #expect(try await follower.engine.applyCopiedChanges() == 4)
            let copied = try #require(follower.engine.group(named: "g"))
            #expect(copied.consumeFrom == .earliest && copied.maxDeliveryAttempts == 4 && copied.createdAtMs == 7)
            var backlog = try #require(await follower.engine.backlog(group: "g")?.queues.first)
            #expect(backlog.waiting == 0 && backlog.inFlight == 2, "\(backlog)")
            #expect(try await follower.engine.applyCopiedChanges() == 0, "the cursor is past every record")

            // Replayed from the queue's start: the same state.
            follower.engine.state.withLock { $0.replicatedCursor = nil }
            #expect(try await follower.engine.applyCopiedChanges() == 4)
            backlog = try #require(await follower.engine.backlog(group: "g")?.queues.first)
            #expect(backlog.waiting == 0 && backlog.inFlight == 2, "\(backlog)")

            // After a restart: the stored cursor, the stored state. c and f are still invisible
            // (the leader's delivery holds), and the leader's handles acknowledge them here.
            await follower.close()
            follower = try await Follower.open(path, log: leader.log)
            #expect(try await follower.engine.applyCopiedChanges() == 0)
            #expect(try await receive(follower.engine, copied, topic).isEmpty, "in flight: not delivered again")
            for delivery in delivered where ["c", "f"].contains(Self.body(delivery)) {
                try await ack(follower.engine, "g", "t", delivery)
            }
            backlog = try #require(await follower.engine.backlog(group: "g")?.queues.first)
            #expect(backlog.waiting == 0 && backlog.inFlight == 0, "\(backlog)")
            await follower.close()
            await leader.close()
        }
    }

    @Test("a message a consumer dead-letters is finished on the follower; an operator's re-drive reopens it there, with the re-drive cursor")
    func deadLetterAndRedriveFollow() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, follower, topic, group) = try await deadLetteredOne(directory)
            #expect(await follower.engine.backlog(group: "g")?.waiting == 0, "dead-lettered: finished on the follower")

            #expect(try await leader.engine.redriveDeadLetters(group: "g") == 1)
            try await follower.engine.applyCopiedChanges()
            #expect(await follower.engine.backlog(group: "g")?.waiting == 1)
            #expect(follower.engine.state.withLock { $0.redriven["g"] } == 1)
            let again = try await receive(follower.engine, group, topic)
            #expect(again.map(Self.body) == ["a"])
            await follower.close()
            await leader.close()
        }
    }

    @Test("a follower refuses group changes: no record, nothing stored")
    func followerRefusesGroupChanges() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            stack.engine.replicate(leader: { "b" }, topics: stack.topics)
            stack.log.refuseLocalAppends("follower")
            await #expect(throws: BrokerError.self) {
                _ = try await stack.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1))
            }
            #expect(stack.engine.group(named: "g") == nil)
            await stack.close()
        }
    }

    @Test("a follower hands out no messages: a receive is refused naming the leader, and nothing is claimed")
    func followerRefusesReceives() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            stack.engine.replicate(leader: { "b" }, topics: stack.topics)
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
            try await stack.send("t", body: "a")
            stack.log.refuseLocalAppends("follower")
            do {
                _ = try await receive(stack.engine, group, topic)
                Issue.record("a follower delivered")
            } catch {
                let refusal = try #require(error as? BrokerError)
                #expect(refusal.code == .notLeader)
                #expect(refusal.message.contains("the leader is b"), "\(refusal.message)")
            }
            #expect(await stack.engine.backlog(group: "g")?.inFlight == 0)
            await stack.close()
        }
    }

    @Test("a cut log tail undoes its ack records: the messages are delivered again, the cursor moves back")
    func cutTailUndoesAcks() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            stack.engine.replicate(leader: { nil }, topics: stack.topics)
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
            try await stack.send("t", body: "a")
            try await stack.send("t", body: "b")
            let delivered = try await receive(stack.engine, group, topic)
            try await stack.engine.ack(
                group: "g", topic: "t", receiptHandle: stack.engine.encode(delivered[0].handle, group: "g", topic: "t"))
            try await stack.engine.applyCopiedChanges()
            let cut = stack.log.endOffset
            try await stack.engine.ack(
                group: "g", topic: "t", receiptHandle: stack.engine.encode(delivered[1].handle, group: "g", topic: "t"))
            try await stack.engine.applyCopiedChanges()
            // group.save, subscribe, deliver, two acks.
            #expect(stack.engine.state.withLock { $0.replicatedCursor } == 5)

            await stack.engine.forgetLogTail(from: cut)
            try await stack.log.truncate(to: cut)
            _ = try await stack.engine.logWasCut()
            #expect(stack.engine.state.withLock { $0.replicatedCursor } == 4)
            let again = try await receive(stack.engine, group, topic)
            #expect(again.map(Self.body) == ["b"], "after the cut: \(again.map(Self.body))")
            try await stack.log.syncDeferred()  // the receive's deliver record, appended without waiting

            // A stored cursor past the cut (the engine opened after it): the next apply moves it
            // to the queue's end, and a record copied there later is applied.
            stack.engine.state.withLock { $0.replicatedCursor = 9 }
            #expect(try await stack.engine.applyCopiedChanges() == 0)
            #expect(stack.engine.state.withLock { $0.replicatedCursor } == 5)
            try await stack.engine.ack(
                group: "g", topic: "t", receiptHandle: stack.engine.encode(again[0].handle, group: "g", topic: "t"))
            #expect(try await stack.engine.applyCopiedChanges() == 1)
            await stack.close()
        }
    }

    /// Cuts the shared log at `cut` as a follower does at a leader change: notes the tail, cuts,
    /// and puts back what the tail changed.
    func cutLog(_ log: CommitLog, at cut: UInt64, _ follower: Follower) async throws {
        await follower.engine.forgetLogTail(from: cut)
        try await log.truncate(to: cut)
        _ = try await follower.engine.logWasCut()
    }

    func ack(_ engine: ConsumptionEngine, _ group: String, _ topic: String, _ delivery: Delivery) async throws {
        try await engine.ack(group: group, topic: topic, receiptHandle: engine.encode(delivery.handle, group: group, topic: topic))
    }

    @Test("a cut log tail takes its group records with it: a group it made is gone, a group it changed has its earlier settings, a group it deleted is back with its progress, also after a restart")
    func cutTailPutsGroupsBack() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, topic) = try await replicatingLeader(directory)
            let changed = try await leader.engine.saveGroup(
                ConsumerGroup(name: "changed", maxDeliveryAttempts: 4, createdAtMs: 1, consumeFrom: .earliest))
            let deleted = try await leader.engine.saveGroup(
                ConsumerGroup(name: "deleted", maxDeliveryAttempts: 5, createdAtMs: 2, consumeFrom: .earliest))
            for text in ["a", "b"] { try await leader.send("t", body: text) }
            let delivered = try await receive(leader.engine, deleted, topic)
            try await ack(leader.engine, "deleted", "t", delivered[0])
            let path = directory + "/follower.sqlite"
            var follower = try await Follower.open(path, log: leader.log)
            _ = try await follower.topics.create(name: "t", type: .normal, queueCount: 1)
            try await follower.engine.applyCopiedChanges()
            let cut = leader.log.endOffset

            _ = try await leader.engine.saveGroup(ConsumerGroup(name: "made", createdAtMs: 3))
            var other = changed
            other.maxDeliveryAttempts = 9
            other.fifo = true
            _ = try await leader.engine.saveGroup(other)
            #expect(try await leader.engine.deleteGroup(named: "deleted"))
            #expect(try await follower.engine.applyCopiedChanges() == 3)
            #expect(follower.engine.group(named: "made") != nil && follower.engine.group(named: "deleted") == nil)

            try await cutLog(leader.log, at: cut, follower)
            for _ in 0..<2 {
                #expect(follower.engine.group(named: "made") == nil)
                #expect(follower.engine.group(named: "changed") == changed)
                #expect(follower.engine.group(named: "deleted") == deleted)
                // The ack of a counts again; b is in flight as the delivery record left it.
                let queue = await follower.engine.backlog(group: "deleted")?.queues.first
                #expect(queue?.waiting == 0 && queue?.inFlight == 1, "\(String(describing: queue))")
                await follower.close()
                follower = try await Follower.open(path, log: leader.log)
            }
            #expect(try await receive(follower.engine, deleted, topic).isEmpty, "b is in flight")
            try await ack(follower.engine, "deleted", "t", delivered[1])
            await follower.close()
            await leader.close()
        }
    }

    @Test("a cut log tail takes its subscriptions with it: a group–topic pair it made is gone, also after a restart")
    func cutTailRemovesItsPairs() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, kept) = try await replicatingLeader(directory)
            let made = try await leader.topics.create(name: "u", type: .normal, queueCount: 1)
            // Starting at the newest message: each pair has a stored start cursor.
            let group = try await leader.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .latest))
            try await leader.send("t", body: "a")
            try await leader.send("u", body: "a")
            try await leader.engine.subscribe(group: group, topic: kept)
            let path = directory + "/follower.sqlite"
            var follower = try await Follower.open(path, log: leader.log)
            for name in ["t", "u"] { _ = try await follower.topics.create(name: name, type: .normal, queueCount: 1) }
            try await follower.engine.applyCopiedChanges()
            let cut = leader.log.endOffset

            try await leader.engine.subscribe(group: group, topic: made)
            #expect(try await follower.engine.applyCopiedChanges() == 1)
            #expect(follower.engine.existingConsumer("g", "u") != nil)

            try await cutLog(leader.log, at: cut, follower)
            for _ in 0..<2 {
                #expect(follower.engine.existingConsumer("g", "u") == nil)
                let queues = await follower.engine.backlog(group: "g")?.queues ?? []
                #expect(queues.map(\.topic) == ["t"] && queues.first?.nextOffset == 1, "\(queues)")
                await follower.close()
                follower = try await Follower.open(path, log: leader.log)
            }
            await follower.close()
            await leader.close()
        }
    }

    @Test("a reset in a cut log tail is undone: the cursor is back where the remaining records put it, and the acks made before the reset still count")
    func cutTailUndoesReset() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, topic) = try await replicatingLeader(directory)
            let group = try await leader.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
            for text in ["a", "b", "c"] { try await leader.send("t", body: text) }
            let delivered = try await receive(leader.engine, group, topic)
            try await ack(leader.engine, "g", "t", delivered[0])
            let follower = try await Follower.open(directory + "/follower.sqlite", log: leader.log)
            _ = try await follower.topics.create(name: "t", type: .normal, queueCount: 1)
            try await follower.engine.applyCopiedChanges()
            let cut = leader.log.endOffset

            _ = try await leader.engine.resetOffsets(group: "g", topic: topic, to: .earliest)
            #expect(try await follower.engine.applyCopiedChanges() == 1)
            #expect(await follower.engine.backlog(group: "g")?.queues.first?.nextOffset == 0)

            try await cutLog(leader.log, at: cut, follower)
            // As the records left put it: the receive's cursor, a acknowledged, b and c in flight.
            let queue = await follower.engine.backlog(group: "g")?.queues.first
            #expect(queue?.nextOffset == 3 && queue?.inFlight == 2, "\(String(describing: queue))")
            #expect(try await follower.engine.committedOffset(group: group, topic: topic, queueId: 0) == 1)
            #expect(try await receive(follower.engine, group, topic).isEmpty, "b and c are in flight")
            for delivery in delivered.dropFirst() { try await ack(follower.engine, "g", "t", delivery) }
            #expect(try await follower.engine.committedOffset(group: group, topic: topic, queueId: 0) == 3)
            await follower.close()
            await leader.close()
        }
    }

    @Test("a dead-letter re-drive in a cut log tail is undone: the messages stay finished, the re-drive cursor goes back")
    func cutTailUndoesRedrive() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, follower, _, _) = try await deadLetteredOne(directory)
            let cut = leader.log.endOffset

            #expect(try await leader.engine.redriveDeadLetters(group: "g") == 1)
            try await follower.engine.applyCopiedChanges()
            #expect(await follower.engine.backlog(group: "g")?.waiting == 1)
            #expect(follower.engine.state.withLock { $0.redriven["g"] } == 1)

            try await cutLog(leader.log, at: cut, follower)
            #expect(await follower.engine.backlog(group: "g")?.waiting == 0, "dead-lettered again: finished")
            #expect(follower.engine.state.withLock { $0.redriven["g"] } == nil)
            #expect(await follower.engine.backlog(group: "g")?.deadLettered == 1)
            await follower.close()
            await leader.close()
        }
    }

    @Test("a recall in a cut log tail is undone: the DELAY message is scheduled again at its time, also after a restart; a recall left in the log stays")
    func cutTailUndoesRecall() async throws {
        try await withTemporaryDirectory { directory in
            let leader = try await ConsumptionStack.open(directory)
            leader.engine.replicate(leader: { nil }, topics: leader.topics)
            let topic = try await leader.topics.create(name: "later", type: .delay, queueCount: 1)
            let group = try await leader.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
            let laterMs = WallClock.nowMs() + 600_000
            func send(_ text: String, at deliveryMs: Int64) async throws -> (handle: String, physicalOffset: UInt64) {
                let record = MessageRecord(
                    topic: "later", queueId: 0, messageId: "ID-" + text, tags: "",
                    properties: [(MessageProperty.deliveryTimestampMs, "\(deliveryMs)")], body: ByteBuffer(string: text),
                    bornTimestampMs: WallClock.nowMs(), messageType: RecordKind.delay.rawValue)
                let appended = try await leader.log.append(record)
                return (
                    leader.engine.recallHandle(topic: "later", appended: appended, queueId: 0, deliveryMs: deliveryMs),
                    appended.physicalOffset
                )
            }
            let kept = try await send("kept", at: laterMs)
            let undone = try await send("undone", at: laterMs)
            _ = try await send("now", at: WallClock.nowMs() - 1)
            #expect(try await leader.engine.recall(topic: "later", handle: kept.handle) == "ID-kept")
            let due = try await receive(leader.engine, group, topic)
            #expect(due.map(Self.body) == ["now"])
            try await ack(leader.engine, "g", "later", due[0])
            // The follower's cursor moves past all three with the ack: "undone" is scheduled there.
            let path = directory + "/follower.sqlite"
            var follower = try await Follower.open(path, log: leader.log)
            _ = try await follower.topics.create(name: "later", type: .delay, queueCount: 1)
            try await follower.engine.applyCopiedChanges()
            #expect(await follower.engine.backlog(group: "g")?.scheduled == 1)
            let cut = leader.log.endOffset

            #expect(try await leader.engine.recall(topic: "later", handle: undone.handle) == "ID-undone")
            try await follower.engine.applyCopiedChanges()
            #expect(await follower.engine.backlog(group: "g")?.scheduled == 0, "recalled on the follower too")
            #expect(follower.engine.recalls.contains(undone.physicalOffset))

            try await cutLog(leader.log, at: cut, follower)
            #expect(await follower.engine.backlog(group: "g")?.scheduled == 1, "the cut recall is undone")
            #expect(await follower.engine.nextDueMs(group: "g", topic: "later") == laterMs, "due at its own time")
            #expect(!follower.engine.recalls.contains(undone.physicalOffset))
            #expect(follower.engine.recalls.contains(kept.physicalOffset), "the recall left in the log stays")
            await follower.close()
            follower = try await Follower.open(path, log: leader.log)
            #expect(await follower.engine.backlog(group: "g")?.scheduled == 1, "after a restart too")
            #expect(!follower.engine.recalls.contains(undone.physicalOffset))
            #expect(follower.engine.recalls.contains(kept.physicalOffset))
            await follower.close()
            await leader.close()
        }
    }

    @Test("records copied after a cut apply over what the cut put back")
    func recordsAfterCutApply() async throws {
        try await withTemporaryDirectory { directory in
            let (leader, topic) = try await replicatingLeader(directory)
            let group = try await leader.engine.saveGroup(
                ConsumerGroup(name: "g", maxDeliveryAttempts: 4, createdAtMs: 1, consumeFrom: .earliest))
            for text in ["a", "b", "c"] { try await leader.send("t", body: text) }
            let delivered = try await receive(leader.engine, group, topic)
            try await ack(leader.engine, "g", "t", delivered[0])
            let follower = try await Follower.open(directory + "/follower.sqlite", log: leader.log)
            _ = try await follower.topics.create(name: "t", type: .normal, queueCount: 1)
            try await follower.engine.applyCopiedChanges()
            let cut = leader.log.endOffset
            #expect(try await leader.engine.deleteGroup(named: "g"))
            try await follower.engine.applyCopiedChanges()
            try await cutLog(leader.log, at: cut, follower)

            // The next leader's records (this engine lost "g" with the tail; it writes them as one would).
            try await leader.engine.appendReplicated(
                .ack, group: "g", topic: "t", body: ConsumptionEngine.encodeOffsets([(0, [1])]))
            _ = try await leader.engine.saveGroup(ConsumerGroup(name: "late", createdAtMs: 5))
            #expect(try await follower.engine.applyCopiedChanges() == 2)
            #expect(follower.engine.group(named: "g") == group, "the group the log defines, not one made with the defaults")
            #expect(follower.engine.group(named: "late") != nil)
            let queue = await follower.engine.backlog(group: "g")?.queues.first
            #expect(queue?.waiting == 0 && queue?.inFlight == 1, "c in flight: \(String(describing: queue))")
            try await ack(follower.engine, "g", "t", delivered[2])
            await follower.close()
            await leader.close()
        }
    }
}
