import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// Lite subscriptions of a replicated group are records in the log's lite queue
/// (docs/architecture.md §15): a follower replays them into the same sets, refuses its own
/// changes, and a cut tail's changes are put back as the remaining log defines them.
@Suite("LiteSubscriptions replication: subscription changes through the log")
struct ReplicatedLiteSubscriptionsTests {
    static let logger: Logger = {
        var logger = Logger(label: "replicated-lite-test")
        logger.logLevel = .critical
        return logger
    }()

    static func journal(_ log: CommitLog) -> LiteChangeJournal {
        LiteChangeJournal(log: log, leader: { "b2" }, logger: logger)
    }

    /// A leader store on the stack's database and a follower store on a database of its own,
    /// both linked to the one log (the follower reads what a copied log would hold).
    struct Pair {
        let stack: ConsumptionStack
        let leader: LiteSubscriptions
        let follower: LiteSubscriptions
        let followerPath: String
    }

    func withPair(_ body: (Pair) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory + "/leader")
            try FileManager.default.createDirectory(atPath: directory + "/follower", withIntermediateDirectories: true)
            let followerPath = directory + "/follower/transactions.sqlite"
            let followerTables = try await TransactionStateStore.open(path: followerPath, now: 1_000)
            let leader = try await LiteSubscriptions.open(path: directory + "/leader/transactions.sqlite", logger: Self.logger)
            let follower = try await LiteSubscriptions.open(path: followerPath, logger: Self.logger)
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

    static func sets(_ lite: LiteSubscriptions) -> [String] {
        [("g1", "parent"), ("g2", "parent")].map { group, topic in
            "\(group)/\(topic): " + lite.liteTopics(group: group, topic: topic).sorted().joined(separator: ",")
        }
    }

    @Test("every change that changes a set is one record; a follower replays them into the leader's sets; replaying again, or from the start after a restart, ends the same")
    func replayMatchesTheLeader() async throws {
        try await withPair { pair in
            let leader = pair.leader
            try await leader.apply(.add, group: "g1", topic: "parent", liteTopics: ["a", "b", "c"])
            try await leader.apply(.remove, group: "g1", topic: "parent", liteTopics: ["b", "never"])
            try await leader.apply(.resync, group: "g1", topic: "parent", liteTopics: ["c", "d"])
            try await leader.apply(.add, group: "g1", topic: "parent", liteTopics: ["a"])  // no change: no record
            try await leader.apply(.add, group: "g2", topic: "parent", liteTopics: ["x", "y"])
            try await leader.apply(.removeAll, group: "g2", topic: "parent", liteTopics: [])
            try await leader.apply(.add, group: "g2", topic: "parent", liteTopics: ["z"])
            #expect(pair.stack.log.queueBounds(LiteChangeJournal.queue).next == 6)
            #expect(Self.sets(leader) == ["g1/parent: a,c,d", "g2/parent: z"])

            let follower = pair.follower
            #expect(Self.sets(follower) == ["g1/parent: ", "g2/parent: "])
            #expect(try await follower.applyCopiedChanges() == 6)
            #expect(Self.sets(follower) == Self.sets(leader))
            #expect(follower.count == leader.count)
            #expect(try await follower.applyCopiedChanges() == 0)

            let restarted = try await LiteSubscriptions.open(path: pair.followerPath, logger: Self.logger)
            restarted.replicate(through: Self.journal(pair.stack.log))
            #expect(Self.sets(restarted) == Self.sets(leader), "the rows survive the restart")
            #expect(try await restarted.applyCopiedChanges() == 0, "a restart replays from the stored cursor")
            #expect(Self.sets(restarted) == Self.sets(leader))
            await restarted.close()
            #expect(try await StoredJournalCursors.cursor(of: LiteChangeJournal.queue.topic, in: pair.followerPath) == 6)
            try await StoredJournalCursors.forget(in: pair.followerPath)
            let fromStart = try await LiteSubscriptions.open(path: pair.followerPath, logger: Self.logger)
            fromStart.replicate(through: Self.journal(pair.stack.log))
            #expect(try await fromStart.applyCopiedChanges() == 6, "without a stored cursor, from the queue's start")
            #expect(Self.sets(fromStart) == Self.sets(leader))
            await fromStart.close()
        }
    }

    @Test("a follower refuses subscription changes, naming the leader; nothing is recorded or stored")
    func followerRefuses() async throws {
        try await withPair { pair in
            pair.stack.log.refuseLocalAppends("follower")
            let error = await #expect(throws: BrokerError.self) {
                try await pair.follower.apply(.add, group: "g1", topic: "parent", liteTopics: ["a"])
            }
            #expect(error?.code == .notLeader)
            #expect(error?.message.contains("the leader is b2") == true, "\(String(describing: error))")
            #expect(pair.follower.liteTopics(group: "g1", topic: "parent").isEmpty)
            #expect(pair.stack.log.queueBounds(LiteChangeJournal.queue).next == 0)
        }
    }

    @Test("a cut tail: a name subscribed only there goes, one unsubscribed only there comes back")
    func cutTail() async throws {
        try await withPair { pair in
            let leader = pair.leader
            try await leader.apply(.add, group: "g1", topic: "parent", liteTopics: ["kept", "dropped-in-tail"])
            let cut = pair.stack.log.endOffset
            try await leader.apply(.add, group: "g1", topic: "parent", liteTopics: ["tail-only"])
            try await leader.apply(.remove, group: "g1", topic: "parent", liteTopics: ["dropped-in-tail"])
            try await leader.apply(.add, group: "g2", topic: "parent", liteTopics: ["other"])
            let follower = pair.follower
            #expect(try await follower.applyCopiedChanges() == 4)
            #expect(Self.sets(follower) == ["g1/parent: kept,tail-only", "g2/parent: other"])

            await follower.forgetLogTail(from: cut)
            #expect(try await follower.applyCopiedChanges() == 0, "no replay into the tail being cut")
            try await pair.stack.log.truncate(to: cut)
            await follower.copiedLogTruncated()
            #expect(Self.sets(follower) == ["g1/parent: dropped-in-tail,kept", "g2/parent: "])
            #expect(follower.count == 2)
            #expect(try await follower.applyCopiedChanges() == 0)
        }
    }
}
