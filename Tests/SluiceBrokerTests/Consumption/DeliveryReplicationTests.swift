import Foundation
import Logging
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

/// Deliveries in a replicated group follow the log (DeliveryJournal.swift): a follower's engine
/// reads the leader's `deliver` records from the log they share here (its own SQLite file, its
/// own clock) and, once it serves, keeps what the leader handed out as the leader left it.
@Suite("consumption: deliveries in flight follow the log to the followers")
struct DeliveryReplicationTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    /// A test clock shared by the leader's and the follower's engines.
    final class Clock: Sendable {
        let now = Atomic<Int64>(1_800_000_000_000)
        func advance(by milliseconds: Int64) { now.add(milliseconds, ordering: .relaxed) }
        var read: @Sendable () -> Int64 { { self.now.load(ordering: .relaxed) } }
    }

    /// A follower's tables and engine over the leader's log.
    struct Follower {
        let store: TransactionStateStore
        let topics: SQLiteTopicRegistry
        let engine: ConsumptionEngine

        static func open(_ path: String, log: CommitLog, clock: Clock) async throws -> Follower {
            var logger = Logger(label: "follower")
            logger.logLevel = .critical
            let store = try await TransactionStateStore.open(path: path, now: WallClock.nowMs())
            let topics = try await SQLiteTopicRegistry.open(path: path, logger: logger)
            let engine = try await ConsumptionEngine.open(path: path, log: log, topics: topics, nowMs: clock.read, logger: logger)
            engine.replicate(leader: { "leader" }, topics: topics)
            return Follower(store: store, topics: topics, engine: engine)
        }

        func close() async {
            await engine.close()
            await topics.close()
            try? await store.close()
        }
    }

    /// A replicating leader on `clock` with topic "t" (`type`, one queue) and group "g" reading
    /// it from the oldest message.
    func leader(_ directory: String, clock: Clock, type: TopicMessageType = .normal, attempts: Int = 16)
        async throws -> (ConsumptionStack, TopicDefinition, ConsumerGroup)
    {
        let leader = try await ConsumptionStack.open(directory, nowMs: clock.read)
        leader.engine.replicate(leader: { nil }, topics: leader.topics)
        try await leader.engine.passOwnRecords()  // records its handle key, as each leadership does
        let topic = try await leader.topics.create(name: "t", type: type, queueCount: 1)
        let group = try await leader.engine.saveGroup(
            ConsumerGroup(name: "g", fifo: type == .fifo, maxDeliveryAttempts: attempts, createdAtMs: 1, consumeFrom: .earliest))
        return (leader, topic, group)
    }

    /// The follower after it applied everything the leader recorded so far.
    func follower(_ directory: String, of leader: ConsumptionStack, clock: Clock, type: TopicMessageType = .normal)
        async throws -> Follower
    {
        let follower = try await Follower.open(directory + "/follower.sqlite", log: leader.log, clock: clock)
        _ = try await follower.topics.create(name: "t", type: type, queueCount: 1)
        try await catchUp(follower, leader)
        return follower
    }

    func catchUp(_ follower: Follower, _ leader: ConsumptionStack) async throws {
        try await leader.log.syncDeferred()  // delivery records are appended without waiting
        try await follower.engine.applyCopiedChanges()
    }

    func receive(_ engine: ConsumptionEngine, _ group: ConsumerGroup, _ topic: TopicDefinition, invisibleMs: Int64 = 10_000)
        async throws -> [Delivery]
    {
        try await engine.receive(
            group: group, topic: topic, batch: 32, invisibleMs: invisibleMs, filter: .all, clientId: "c", firstQueue: 0)
    }

    func handle(_ engine: ConsumptionEngine, _ delivery: Delivery) -> String {
        engine.encode(delivery.handle, group: "g", topic: "t")
    }

    @Test("after a fail-over the messages in flight stay invisible until their time; the old leader's handles, also a changed invisible time's, acknowledge them; an unacknowledged one comes back with its attempt counted")
    func inFlightSurvivesFailOver() async throws {
        try await withTemporaryDirectory { directory in
            let clock = Clock()
            let (leader, topic, group) = try await leader(directory, clock: clock)
            for text in ["a", "b", "c"] { try await leader.send("t", body: text) }
            let delivered = try await receive(leader.engine, group, topic)
            #expect(delivered.map(Self.body) == ["a", "b", "c"])
            let renewedB = try await leader.engine.changeInvisibleDuration(
                group: "g", topic: "t", receiptHandle: handle(leader.engine, delivered[1]), invisibleMs: 120_000)
            let follower = try await follower(directory, of: leader, clock: clock)

            clock.advance(by: 5_000)
            #expect(try await receive(follower.engine, group, topic).isEmpty, "all three are in flight")
            try await follower.engine.ack(group: "g", topic: "t", receiptHandle: handle(leader.engine, delivered[0]))
            do {
                try await follower.engine.ack(group: "g", topic: "t", receiptHandle: handle(leader.engine, delivered[1]))
                Issue.record("b's first handle acknowledged it after its invisible time was changed")
            } catch {
                #expect((error as? BrokerError)?.code == .staleReceiptHandle, "\(error)")
            }

            // c's invisible time is over (and its retry delay): delivered again, second attempt;
            // b's changed one is not over yet.
            clock.advance(by: 60_000)
            let again = try await receive(follower.engine, group, topic)
            #expect(again.map(Self.body) == ["c"] && again.first?.attempt == 2, "\(again.map { (Self.body($0), $0.attempt) })")
            try await follower.engine.ack(group: "g", topic: "t", receiptHandle: renewedB)
            let queue = try #require(await follower.engine.backlog(group: "g")?.queues.first)
            #expect(queue.inFlight == 1 && queue.waiting == 0, "only c's second delivery: \(queue)")
            await follower.close()
            await leader.close()
        }
    }

    @Test("released deliveries and a FIFO group's blocked line follow: due at once there, and the line moves on when its head is acknowledged there")
    func releaseAndFIFOLines() async throws {
        try await withTemporaryDirectory { directory in
            let clock = Clock()
            let (leader, topic, group) = try await leader(directory, clock: clock, type: .fifo)
            for text in ["x1", "x2", "y1"] {
                try await leader.send("t", body: text, properties: [(MessageProperty.messageGroup, String(text.prefix(1)))])
            }
            let delivered = try await receive(leader.engine, group, topic)
            #expect(delivered.map(Self.body) == ["x1", "y1"], "one per message group")
            // y1's receive "could not be written": handed back.
            #expect(try await leader.engine.release(group: "g", topic: "t", deliveries: [delivered[1]]) == 1)
            let follower = try await follower(directory, of: leader, clock: clock, type: .fifo)

            let first = try await receive(follower.engine, group, topic)
            #expect(first.map(Self.body) == ["y1"] && first.first?.attempt == 1, "\(first.map { (Self.body($0), $0.attempt) })")
            try await follower.engine.ack(group: "g", topic: "t", receiptHandle: handle(leader.engine, delivered[0]))
            let next = try await receive(follower.engine, group, topic)
            #expect(next.map(Self.body) == ["x2"], "x1 acknowledged with the leader's handle unblocks x2")
            await follower.close()
            await leader.close()
        }
    }

    @Test("a delivery whose record a cut log tail took is due at once (the next leader never saw it); one left in the log stays in flight")
    func cutTailUndoesDeliveries() async throws {
        try await withTemporaryDirectory { directory in
            let clock = Clock()
            let (leader, topic, group) = try await leader(directory, clock: clock)
            for text in ["a", "b"] { try await leader.send("t", body: text) }
            try await leader.engine.subscribe(group: group, topic: topic)
            let kept = try await leader.engine.receive(
                group: group, topic: topic, batch: 1, invisibleMs: 60_000, filter: .all, clientId: "c", firstQueue: 0)
            #expect(kept.map(Self.body) == ["a"])
            let follower = try await follower(directory, of: leader, clock: clock)
            let cut = leader.log.endOffset
            let lost = try await receive(leader.engine, group, topic, invisibleMs: 60_000)
            #expect(lost.map(Self.body) == ["b"])
            try await catchUp(follower, leader)
            #expect(try await receive(follower.engine, group, topic).isEmpty)

            await follower.engine.forgetLogTail(from: cut)
            try await leader.log.truncate(to: cut)
            _ = try await follower.engine.logWasCut()
            let again = try await receive(follower.engine, group, topic)
            #expect(again.map(Self.body) == ["b"], "after the cut: \(again.map(Self.body))")
            try await follower.engine.ack(group: "g", topic: "t", receiptHandle: handle(leader.engine, kept[0]))
            await follower.close()
            await leader.close()
        }
    }

    @Test("a broker that does not replicate writes no delivery records")
    func singleBrokerWritesNone() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.engine.saveGroup(ConsumerGroup(name: "g", createdAtMs: 1, consumeFrom: .earliest))
            try await stack.send("t", body: "a")
            let delivered = try await receive(stack.engine, group, topic)
            _ = try await stack.engine.changeInvisibleDuration(
                group: "g", topic: "t", receiptHandle: handle(stack.engine, delivered[0]), invisibleMs: 1000)
            try await stack.log.syncDeferred()
            #expect(stack.log.queueBounds(ConsumptionEngine.replicationQueue).next == 0)
            await stack.close()
        }
    }

    @Test("the record body: edge values survive a round trip; cut short at any byte, lying counts or random bytes decode to nil, never a trap")
    func recordBodyEdges() {
        let rows = [
            CopiedDeliveries.Row(
                queueId: .max, queueOffset: .max, attempt: .max, deliveryToken: .max, invisibleUntilMs: .min,
                deliverableAtMs: .max, autoRenew: true, clientId: String(repeating: "é", count: 2000), messageGroup: ""),
            CopiedDeliveries.Row(
                queueId: 0, queueOffset: 0, attempt: 0, deliveryToken: 0, invisibleUntilMs: 0, deliverableAtMs: -1,
                autoRenew: false, clientId: "", messageGroup: nil),
        ]
        let copied = CopiedDeliveries(
            rows: rows, cursors: [.init(queueId: .max, offset: .max)], finished: [.init(queueId: 0, offset: .max)])
        let encoded = copied.encoded()
        let decoded = CopiedDeliveries.decode(encoded)
        #expect(decoded != nil)
        #expect(decoded?.rows[0].attempt == Int(UInt32.max), "attempts clamp to 32 bits")
        #expect(decoded?.rows[0].clientId.utf8.count == CopiedDeliveries.maxStringBytes, "a long client id is cut")
        #expect(decoded?.rows[0].messageGroup == "" && decoded?.rows[1].messageGroup == nil)
        #expect(decoded?.rows[1] == rows[1] && decoded?.cursors == copied.cursors && decoded?.finished == copied.finished)
        for length in 0..<encoded.readableBytes {
            #expect(CopiedDeliveries.decode(encoded.getSlice(at: 0, length: length)!) == nil, "cut at \(length)")
        }
        var lying = ByteBuffer()
        lying.writeInteger(CopiedDeliveries.format)
        lying.writeInteger(UInt32.max)
        #expect(CopiedDeliveries.decode(lying) == nil, "a row count larger than the bytes")
        var noRows = ByteBuffer()
        noRows.writeInteger(CopiedDeliveries.format)
        noRows.writeInteger(UInt32(0))
        noRows.writeInteger(UInt32.max)
        #expect(CopiedDeliveries.decode(noRows) == nil, "a cursor count larger than the bytes")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = ByteBuffer()
            bytes.writeInteger(CopiedDeliveries.format)
            for _ in 0..<Int.random(in: 0..<96, using: &generator) { bytes.writeInteger(UInt8.random(in: 0...255, using: &generator)) }
            _ = CopiedDeliveries.decode(bytes)
        }
    }
}
