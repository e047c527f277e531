import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// Kept MQTT sessions of a replicated group are records in the log's session queue
/// (docs/architecture.md §15): a follower replays them into the same sessions, refuses changes
/// of kept sessions, and a cut tail's changes are put back as the remaining log defines them.
@Suite("MQTTSessionStore replication: kept sessions through the log")
struct ReplicatedMQTTSessionStoreTests {
    static let logger: Logger = {
        var logger = Logger(label: "replicated-sessions-test")
        logger.logLevel = .critical
        return logger
    }()

    static func journal(_ log: CommitLog) -> MQTTSessionChangeJournal {
        MQTTSessionChangeJournal(log: log, leader: { "b2" }, logger: logger)
    }

    struct Pair {
        let stack: ConsumptionStack
        let leader: MQTTSessionStore
        let follower: MQTTSessionStore
        let followerPath: String
    }

    /// A leader store on the stack's database and a follower store on a database of its own,
    /// both linked to the one log (the follower reads what a copied log would hold).
    func withPair(_ body: (Pair) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory + "/leader")
            try FileManager.default.createDirectory(atPath: directory + "/follower", withIntermediateDirectories: true)
            let followerPath = directory + "/follower/transactions.sqlite"
            let followerTables = try await TransactionStateStore.open(path: followerPath, now: 1_000)
            let leader = try await MQTTSessionStore.open(path: directory + "/leader/transactions.sqlite", logger: Self.logger)
            let follower = try await MQTTSessionStore.open(path: followerPath, logger: Self.logger)
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

    static let clientIds = ["kept-311", "kept-5", "ended", "clean"]

    static func sessions(_ store: MQTTSessionStore) -> [String: MQTTSessionStore.Session] {
        var sessions: [String: MQTTSessionStore.Session] = [:]
        for id in clientIds { sessions[id] = store.session(id) }
        return sessions
    }

    static func recordCount(_ pair: Pair) -> UInt64 { pair.stack.log.queueBounds(MQTTSessionChangeJournal.queue).next }

    @Test("every change of a kept session is one record, a clean session writes none; a follower replays them into the leader's kept sessions; replaying again, or from the start after a restart, ends the same")
    func replayMatchesTheLeader() async throws {
        try await withPair { pair in
            let leader = pair.leader
            #expect(try await leader.open("kept-311", durable: true) == .new)
            try await leader.subscribed("kept-311", filter: "home/#", qos: 1)
            try await leader.subscribed("kept-311", filter: "home/#", qos: 1)  // no change: no record
            try await leader.subscribed("kept-311", filter: "office/+", options: 0x06, identifier: 7)
            try await leader.unsubscribed("kept-311", filter: "office/+")
            #expect(try await leader.open("kept-5", cleanStart: true, expirySeconds: 600) == .new)
            try await leader.subscribed("kept-5", filter: "sensors/+/t", options: 0x01, identifier: 42)
            try await leader.disconnected("kept-5", expirySeconds: 300)
            #expect(try await leader.open("ended", durable: true) == .new)
            try await leader.subscribed("ended", filter: "x", qos: 0)
            try await leader.discard("ended")
            #expect(try await leader.open("clean", durable: false) == .new)
            try await leader.subscribed("clean", filter: "y", qos: 1)
            try await leader.received("kept-311", packetId: 9)  // a QoS 2 id: the session again
            try await leader.received("clean", packetId: 9)  // a clean session's: none
            #expect(Self.recordCount(pair) == 11)

            var expected = Self.sessions(leader)
            expected["clean"] = nil
            #expect(expected["kept-311"]?.inbound == [9])
            #expect(expected.count == 2)
            #expect(expected["kept-5"]?.identifiers == ["sensors/+/t": 42])

            let follower = pair.follower
            #expect(Self.sessions(follower).isEmpty)
            #expect(try await follower.applyCopiedChanges() == 11)
            #expect(Self.sessions(follower) == expected)
            #expect(try await follower.applyCopiedChanges() == 0)

            let restarted = try await MQTTSessionStore.open(path: pair.followerPath, logger: Self.logger)
            restarted.replicate(through: Self.journal(pair.stack.log))
            #expect(Self.sessions(restarted) == expected, "the rows survive the restart")
            #expect(try await restarted.applyCopiedChanges() == 0, "a restart replays from the stored cursor")
            #expect(Self.sessions(restarted) == expected)
            await restarted.close()
            #expect(try await StoredJournalCursors.cursor(of: MQTTSessionChangeJournal.queue.topic, in: pair.followerPath) == 11)
            try await StoredJournalCursors.forget(in: pair.followerPath)
            let fromStart = try await MQTTSessionStore.open(path: pair.followerPath, logger: Self.logger)
            fromStart.replicate(through: Self.journal(pair.stack.log))
            #expect(try await fromStart.applyCopiedChanges() == 11, "without a stored cursor, from the queue's start")
            #expect(Self.sessions(fromStart) == expected)
            await fromStart.close()
        }
    }

    @Test("a follower refuses a change of a kept session, naming the leader, and changes nothing; a clean session still opens there and ends nothing")
    func followerRefuses() async throws {
        try await withPair { pair in
            #expect(try await pair.leader.open("kept-5", cleanStart: true, expirySeconds: 1) == .new)
            try await pair.leader.disconnected("kept-5", expirySeconds: 1)
            #expect(try await pair.follower.applyCopiedChanges() == 2)
            pair.stack.log.refuseLocalAppends("follower")
            let error = await #expect(throws: BrokerError.self) {
                try await pair.follower.open("kept-311", durable: true)
            }
            #expect(error?.code == .notLeader)
            #expect(error?.message.contains("the leader is b2") == true, "\(String(describing: error))")
            await #expect(throws: BrokerError.self) { try await pair.follower.discard("kept-5") }
            #expect(pair.follower.session("kept-311") == nil)
            #expect(pair.follower.session("kept-5") != nil)
            #expect(try await pair.follower.open("clean", durable: false) == .new)
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(pair.follower.expired().isEmpty, "the leader ends expired sessions, not a follower")
            #expect(Self.recordCount(pair) == 2)
        }
    }

    @Test("at promotion a kept session the log says was connected starts its expiry")
    func promotionEndsTheOldLeadersConnections() async throws {
        try await withPair { pair in
            #expect(try await pair.leader.open("kept-5", cleanStart: true, expirySeconds: 1) == .new)
            #expect(try await pair.leader.open("kept-311", durable: true) == .new)
            try await pair.follower.applyCopiedChanges()
            #expect(pair.follower.session("kept-5")?.disconnectedAtMs == nil)
            await pair.follower.connectionsEndedWithTheOldLeader()
            #expect(pair.follower.session("kept-5")?.disconnectedAtMs != nil)
            #expect(pair.follower.session("kept-311")?.disconnectedAtMs == nil, "a session without expiry never ends")
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(pair.follower.expired() == ["kept-5"])
        }
    }

    @Test("a cut tail: a session made only there goes, one ended there comes back with its subscriptions")
    func cutTail() async throws {
        try await withPair { pair in
            let leader = pair.leader
            #expect(try await leader.open("ended", durable: true) == .new)
            try await leader.subscribed("ended", filter: "x", qos: 1)
            let cut = pair.stack.log.endOffset
            try await leader.discard("ended")
            #expect(try await leader.open("kept-311", durable: true) == .new)
            let follower = pair.follower
            #expect(try await follower.applyCopiedChanges() == 4)
            #expect(follower.session("ended") == nil)
            #expect(follower.session("kept-311") != nil)

            await follower.forgetLogTail(from: cut)
            #expect(try await follower.applyCopiedChanges() == 0, "no replay into the tail being cut")
            try await pair.stack.log.truncate(to: cut)
            await follower.copiedLogTruncated()
            #expect(follower.session("kept-311") == nil)
            #expect(follower.session("ended")?.filters == ["x": 1])
            #expect(try await follower.applyCopiedChanges() == 0)
        }
    }

    @Test("QoS 2 packet ids in flight follow: a stored PUBLISH's id and a delivery's id and state reach the follower, survive its restart, go when released or completed, and a cut tail's are put back")
    func qos2IdsFollow() async throws {
        try await withPair { pair in
            let leader = pair.leader, follower = pair.follower
            #expect(try await leader.open("kept-5", cleanStart: true, expirySeconds: 600) == .new)
            try await leader.received("kept-5", packetId: 7)
            try await leader.received("kept-5", packetId: 8)
            try await leader.sending("kept-5", packetId: 1, origin: "g/t/0/41")
            try await leader.sending("kept-5", packetId: 2, origin: "g/t/0/42")
            try await leader.receivedByClient("kept-5", packetId: 2)
            try await follower.applyCopiedChanges()
            var copied = try #require(follower.session("kept-5"))
            #expect(copied.inbound == [7, 8])
            #expect(copied.outbound == [1: .init(origin: "g/t/0/41", released: false), 2: .init(origin: "g/t/0/42", released: true)])
            #expect(follower.hasInbound("kept-5", packetId: 8), "a re-sent PUBLISH 8 is not stored again there")

            let restarted = try await MQTTSessionStore.open(path: pair.followerPath, logger: Self.logger)
            #expect(restarted.session("kept-5")?.inbound == [7, 8], "the rows survive the follower's restart")
            #expect(restarted.session("kept-5")?.outbound == copied.outbound)
            await restarted.close()

            let cut = pair.stack.log.endOffset
            try await leader.released("kept-5", packetId: 7)
            try await leader.completed("kept-5", packetId: 2)
            try await follower.applyCopiedChanges()
            copied = try #require(follower.session("kept-5"))
            #expect(copied.inbound == [8] && copied.outbound.keys.sorted() == [1])

            await follower.forgetLogTail(from: cut)
            try await pair.stack.log.truncate(to: cut)
            await follower.copiedLogTruncated()
            copied = try #require(follower.session("kept-5"))
            #expect(copied.inbound == [7, 8], "the cut release is undone")
            #expect(copied.outbound.keys.sorted() == [1, 2], "the cut completion is undone")
        }
    }
}
