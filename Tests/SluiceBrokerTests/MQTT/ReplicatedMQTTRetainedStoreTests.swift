import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// MQTT retained messages of a replicated group are records in the log's retained queue
/// (docs/architecture.md §15): a follower replays them into the same messages, refuses its own
/// changes, and a cut tail's changes are put back as the remaining log defines them.
@Suite("MQTTRetainedStore replication: retained messages through the log")
struct ReplicatedMQTTRetainedStoreTests {
    static let logger: Logger = {
        var logger = Logger(label: "replicated-retained-test")
        logger.logLevel = .critical
        return logger
    }()

    static func journal(_ log: CommitLog) -> MQTTRetainedChangeJournal {
        MQTTRetainedChangeJournal(log: log, leader: { "b2" }, logger: logger)
    }

    /// A leader store on the stack's database and a follower store on a database of its own,
    /// both linked to the one log (the follower reads what a copied log would hold).
    struct Pair {
        let stack: ConsumptionStack
        let leader: MQTTRetainedStore
        let follower: MQTTRetainedStore
        let followerPath: String
    }

    func withPair(maxCount: Int = 100, _ body: (Pair) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory + "/leader")
            try FileManager.default.createDirectory(atPath: directory + "/follower", withIntermediateDirectories: true)
            let followerPath = directory + "/follower/transactions.sqlite"
            let followerTables = try await TransactionStateStore.open(path: followerPath, now: 1_000)
            let leader = try await MQTTRetainedStore.open(
                path: directory + "/leader/transactions.sqlite", maxCount: maxCount, logger: Self.logger)
            // Smaller than the leader's limit: a follower applies what the leader accepted.
            let follower = try await MQTTRetainedStore.open(path: followerPath, maxCount: 1, logger: Self.logger)
            leader.replicate(through: Self.journal(stack.log))
            follower.replicate(through: Self.journal(stack.log))
            var failure: (any Error)?
            do {
                try await body(Pair(stack: stack, leader: leader, follower: follower, followerPath: followerPath))
            } catch {
                failure = error
            }
            await follower.close()
            await leader.close()
            try? await followerTables.close()
            await stack.close()
            if let failure { throw failure }
        }
    }

    static func all(_ store: MQTTRetainedStore) -> [MQTTRetainedStore.Message] { store.matching { _ in true } }

    @Test("every change is one record; a follower replays them into the leader's messages; replaying again, or from the start after a restart, ends the same")
    func replayMatchesTheLeader() async throws {
        try await withPair { pair in
            let leader = pair.leader
            try await leader.retain(topic: "home/kitchen", payload: [1], qos: 0)
            try await leader.retain(topic: "home/kitchen", payload: [2, 2], qos: 1)
            try await leader.retain(topic: "home/hall", payload: Array("hall ✓".utf8), qos: 1)
            try await leader.retain(topic: "office", payload: [4], qos: 0)
            try await leader.retain(topic: "office", payload: [], qos: 0)
            try await leader.retain(topic: "never/set", payload: [], qos: 0)  // no change: no record
            try await leader.retain(topic: "a/\u{1}odd\u{2}name", payload: [0, 255], qos: 2)
            #expect(pair.stack.log.queueBounds(MQTTRetainedChangeJournal.queue).next == 6)
            #expect(Self.all(leader) == [
                .init(topic: "a/\u{1}odd\u{2}name", payload: [0, 255], qos: 2),
                .init(topic: "home/hall", payload: Array("hall ✓".utf8), qos: 1),
                .init(topic: "home/kitchen", payload: [2, 2], qos: 1),
            ])

            let follower = pair.follower
            #expect(Self.all(follower).isEmpty)
            #expect(try await follower.applyCopiedChanges() == 6)
            #expect(Self.all(follower) == Self.all(leader), "the follower applies past its own limit: the leader checked")
            #expect(try await follower.applyCopiedChanges() == 0)

            let restarted = try await MQTTRetainedStore.open(path: pair.followerPath, logger: Self.logger)
            restarted.replicate(through: Self.journal(pair.stack.log))
            #expect(Self.all(restarted) == Self.all(leader), "the rows survive the restart")
            #expect(try await restarted.applyCopiedChanges() == 0, "a restart replays from the stored cursor")
            #expect(Self.all(restarted) == Self.all(leader))
            try await leader.retain(topic: "office", payload: [5], qos: 1)
            #expect(try await restarted.applyCopiedChanges() == 1, "then only what came after")
            #expect(Self.all(restarted) == Self.all(leader))
            await restarted.close()
            #expect(try await StoredJournalCursors.cursor(of: MQTTRetainedChangeJournal.queue.topic, in: pair.followerPath) == 7)

            try await StoredJournalCursors.forget(in: pair.followerPath)
            let fromStart = try await MQTTRetainedStore.open(path: pair.followerPath, logger: Self.logger)
            fromStart.replicate(through: Self.journal(pair.stack.log))
            #expect(try await fromStart.applyCopiedChanges() == 7, "without a stored cursor, from the queue's start")
            #expect(Self.all(fromStart) == Self.all(leader))
            await fromStart.close()
        }
    }

    @Test("a follower refuses a retained change, naming the leader; nothing is recorded or stored")
    func followerRefuses() async throws {
        try await withPair { pair in
            pair.stack.log.refuseLocalAppends("follower")
            let error = await #expect(throws: BrokerError.self) {
                try await pair.follower.retain(topic: "home/kitchen", payload: [1], qos: 0)
            }
            #expect(error?.code == .notLeader)
            #expect(error?.message.contains("the leader is b2") == true, "\(String(describing: error))")
            #expect(pair.follower.count == 0)
            #expect(pair.stack.log.queueBounds(MQTTRetainedChangeJournal.queue).next == 0)
        }
    }

    @Test("a change the leader's limit refuses is not recorded")
    func refusedChangeIsNotRecorded() async throws {
        try await withPair(maxCount: 1) { pair in
            try await pair.leader.retain(topic: "one", payload: [1], qos: 0)
            await #expect(throws: BrokerError.self) {
                try await pair.leader.retain(topic: "two", payload: [2], qos: 0)
            }
            #expect(pair.stack.log.queueBounds(MQTTRetainedChangeJournal.queue).next == 1)
        }
    }

    @Test("a cut tail: a message set only there goes, one replaced there comes back, one deleted there comes back")
    func cutTail() async throws {
        try await withPair { pair in
            let leader = pair.leader
            try await leader.retain(topic: "replaced", payload: [1], qos: 0)
            try await leader.retain(topic: "deleted", payload: [2], qos: 1)
            let cut = pair.stack.log.endOffset
            try await leader.retain(topic: "replaced", payload: [9], qos: 1)
            try await leader.retain(topic: "deleted", payload: [], qos: 0)
            try await leader.retain(topic: "tail-only", payload: [3], qos: 0)
            let follower = pair.follower
            #expect(try await follower.applyCopiedChanges() == 5)
            #expect(Self.all(follower) == [.init(topic: "replaced", payload: [9], qos: 1), .init(topic: "tail-only", payload: [3], qos: 0)])

            await follower.forgetLogTail(from: cut)
            #expect(try await follower.applyCopiedChanges() == 0, "no replay into the tail being cut")
            try await pair.stack.log.truncate(to: cut)
            await follower.copiedLogTruncated()
            #expect(Self.all(follower) == [.init(topic: "deleted", payload: [2], qos: 1), .init(topic: "replaced", payload: [1], qos: 0)])
            #expect(try await follower.applyCopiedChanges() == 0)
        }
    }
}
