import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// Users and rules of a replicated group are records in the log's security queue
/// (docs/architecture.md §15): a follower replays them into the same tables, refuses its own
/// changes, and a cut tail's changes are put back as the remaining log defines them.
@Suite("SecurityStore replication: user changes through the log")
struct ReplicatedSecurityTests {
    static let logger: Logger = {
        var logger = Logger(label: "replicated-security-test")
        logger.logLevel = .critical
        return logger
    }()

    static let root = BootstrapCredential(accessKey: "root", secretKey: "root-secret-0")

    /// A leader store on the stack's database and a follower store on a database of its own,
    /// both linked to the one log (the follower reads what a copied log would hold).
    struct Pair {
        let stack: ConsumptionStack
        let leader: SecurityStore
        let follower: SecurityStore
        let followerDirectory: String

        /// Another store on the follower's database: a restarted follower (it reads the stored cursor).
        func reopenedFollower() async throws -> SecurityStore {
            let store = try await SecurityStore.open(
                path: followerDirectory + "/transactions.sqlite", bootstrap: [ReplicatedSecurityTests.root],
                logger: ReplicatedSecurityTests.logger)
            store.replicate(through: ReplicatedSecurityTests.journal(stack.log))
            return store
        }
    }

    static func journal(_ log: CommitLog) -> SecurityChangeJournal {
        SecurityChangeJournal(log: log, leader: { "b2" }, logger: logger)
    }

    func withPair(_ body: (Pair) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory + "/leader")
            let followerDirectory = directory + "/follower"
            try FileManager.default.createDirectory(atPath: followerDirectory, withIntermediateDirectories: true)
            let followerTables = try await TransactionStateStore.open(path: followerDirectory + "/transactions.sqlite", now: 1_000)
            let leader = try await SecurityStore.open(
                path: directory + "/leader/transactions.sqlite", bootstrap: [Self.root], logger: Self.logger)
            let follower = try await SecurityStore.open(
                path: followerDirectory + "/transactions.sqlite", bootstrap: [Self.root], logger: Self.logger)
            leader.replicate(through: Self.journal(stack.log))
            follower.replicate(through: Self.journal(stack.log))
            let pair = Pair(stack: stack, leader: leader, follower: follower, followerDirectory: followerDirectory)
            var failure: (any Error)?
            do {
                try await body(pair)
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

    static func pattern(_ text: String) throws -> ResourcePattern { try ResourcePattern(text) }

    /// Users and rules as the admin API lists them (secrets are checked with `accepts`), but the
    /// bootstrap user: each broker makes it from its own file, at its own time.
    static func contents(_ store: SecurityStore) -> [String] {
        store.snapshot.users.filter { $0.accessKey != root.accessKey }.map {
            "user \($0.accessKey) \($0.createdAtMs) \($0.updatedAtMs)"
        } + store.snapshot.allRules.filter { $0.accessKey != root.accessKey }.map {
            "rule \($0.accessKey) \($0.summary) \($0.createdAtMs)"
        }
    }

    static func accepts(_ store: SecurityStore, _ accessKey: String, _ secret: String) -> Bool {
        let access = AccessControl(configuration: AccessControl.Configuration(enabled: true), store: { store })
        return (try? access.authenticatePassword(accessKey: accessKey, password: Array(secret.utf8))) == accessKey
    }

    @Test("every user change is one record; a follower replays them into the leader's users, rules and secrets; replaying again, or from the start after a restart, changes nothing")
    func replayMatchesTheLeader() async throws {
        try await withPair { pair in
            let leader = pair.leader
            _ = try await leader.createUser(accessKey: "alice", secretKey: "alice-secret-1", actor: "ops")
            _ = try await leader.grant(
                accessKey: "alice", kind: .topic, pattern: try Self.pattern("orders"), decision: .allow, actions: [.pub],
                actor: "ops")
            _ = try await leader.grant(
                accessKey: "alice", kind: .group, pattern: try Self.pattern("billing*"), decision: .allow, actions: [.sub],
                actor: "ops")
            _ = try await leader.grant(
                accessKey: "alice", kind: .topic, pattern: try Self.pattern("orders.secret"), decision: .deny,
                actions: [.pub, .sub], actor: "ops")
            _ = try await leader.revoke(
                accessKey: "alice", kind: .topic, pattern: try Self.pattern("orders.secret"), decision: .deny,
                actions: [.sub], actor: "ops")
            _ = try await leader.updateSecret(accessKey: "alice", secretKey: "alice-secret-2", actor: "ops")
            _ = try await leader.createUser(accessKey: "bob", secretKey: "bob-secret-1", actor: "ops")
            try await leader.deleteUser(accessKey: "bob", actor: "ops")
            // A refused change (no such user) records nothing.
            await #expect(throws: SecurityError.self) { try await leader.deleteUser(accessKey: "nobody", actor: "ops") }
            #expect(pair.stack.log.queueBounds(SecurityChangeJournal.queue).next == 8)

            let follower = pair.follower
            #expect(Self.contents(follower) != Self.contents(leader))
            #expect(try await follower.applyCopiedChanges() == 8)
            #expect(Self.contents(follower) == Self.contents(leader))
            #expect(Self.accepts(follower, "alice", "alice-secret-2"))
            #expect(!Self.accepts(follower, "alice", "alice-secret-1"))
            #expect(!Self.accepts(follower, "bob", "bob-secret-1"))
            #expect(Self.accepts(follower, "root", Self.root.secretKey), "the bootstrap user stays")

            let generation = follower.snapshot.generation
            #expect(try await follower.applyCopiedChanges() == 0)
            let restarted = try await pair.reopenedFollower()
            #expect(try await restarted.applyCopiedChanges() == 0, "a restart replays from the stored cursor")
            #expect(Self.contents(restarted) == Self.contents(leader))
            #expect(Self.accepts(restarted, "alice", "alice-secret-2"))
            await restarted.close()
            let path = pair.followerDirectory + "/transactions.sqlite"
            #expect(try await StoredJournalCursors.cursor(of: SecurityChangeJournal.queue.topic, in: path) == 8)
            try await StoredJournalCursors.forget(in: path)
            let fromStart = try await pair.reopenedFollower()
            #expect(try await fromStart.applyCopiedChanges() == 8, "without a stored cursor, from the queue's start")
            #expect(Self.contents(fromStart) == Self.contents(leader))
            await fromStart.close()
            #expect(follower.snapshot.generation == generation)
        }
    }

    @Test("records apply in log order: the last one for a user defines it (deleted and made again: no old rules, the new secret)")
    func lastRecordWins() async throws {
        try await withPair { pair in
            let leader = pair.leader
            _ = try await leader.createUser(accessKey: "carol", secretKey: "carol-secret-1", actor: "ops")
            _ = try await leader.grant(
                accessKey: "carol", kind: .topic, pattern: try Self.pattern("*"), decision: .allow, actions: [.admin], actor: "ops")
            try await pair.follower.applyCopiedChanges()
            #expect(pair.follower.snapshot.rules(of: "carol").count == 1)

            try await leader.deleteUser(accessKey: "carol", actor: "ops")
            _ = try await leader.createUser(accessKey: "carol", secretKey: "carol-secret-2", actor: "ops")
            #expect(try await pair.follower.applyCopiedChanges() == 2)
            #expect(pair.follower.snapshot.users.map(\.accessKey).contains("carol"))
            #expect(pair.follower.snapshot.rules(of: "carol").isEmpty)
            #expect(Self.accepts(pair.follower, "carol", "carol-secret-2"))
            #expect(!Self.accepts(pair.follower, "carol", "carol-secret-1"))
        }
    }

    @Test("a follower refuses user and rule changes, naming the leader; nothing is recorded or written")
    func followerRefuses() async throws {
        try await withPair { pair in
            pair.stack.log.refuseLocalAppends("follower")
            let error = await #expect(throws: SecurityError.self) {
                _ = try await pair.follower.createUser(accessKey: "dave", secretKey: "dave-secret-1", actor: "ops")
            }
            #expect(error?.code == .notLeader)
            #expect(error?.message.contains("the leader is b2") == true, "\(String(describing: error))")
            let grant = await #expect(throws: SecurityError.self) {
                _ = try await pair.follower.grant(
                    accessKey: "root", kind: .topic, pattern: try Self.pattern("x"), decision: .deny, actions: [.pub], actor: "ops")
            }
            #expect(grant?.code == .notLeader)
            #expect(pair.follower.snapshot.users.map(\.accessKey) == ["root"])
            #expect(pair.follower.snapshot.rules(of: "root").count == 2)
            #expect(pair.stack.log.queueBounds(SecurityChangeJournal.queue).next == 0)
        }
    }

    @Test("a cut tail: a user made only there is deleted, one changed there is put back, a bootstrap user deleted there comes back from the file")
    func cutTail() async throws {
        try await withPair { pair in
            let leader = pair.leader
            _ = try await leader.createUser(accessKey: "erin", secretKey: "erin-secret-1", actor: "ops")
            let cut = pair.stack.log.endOffset
            _ = try await leader.grant(
                accessKey: "erin", kind: .topic, pattern: try Self.pattern("orders"), decision: .allow, actions: [.pub], actor: "ops")
            _ = try await leader.updateSecret(accessKey: "erin", secretKey: "erin-secret-2", actor: "ops")
            _ = try await leader.createUser(accessKey: "frank", secretKey: "frank-secret-1", actor: "ops")
            try await leader.deleteUser(accessKey: "root", actor: "ops")
            let follower = pair.follower
            #expect(try await follower.applyCopiedChanges() == 5)
            #expect(follower.snapshot.users.map(\.accessKey) == ["erin", "frank"])

            await follower.forgetLogTail(from: cut)
            #expect(try await follower.applyCopiedChanges() == 0, "no replay into the tail being cut")
            try await pair.stack.log.truncate(to: cut)
            await follower.copiedLogTruncated()
            #expect(follower.snapshot.users.map(\.accessKey) == ["erin", "root"])
            #expect(follower.snapshot.rules(of: "erin").isEmpty)
            #expect(Self.accepts(follower, "erin", "erin-secret-1"))
            #expect(Self.accepts(follower, "root", Self.root.secretKey))
            #expect(follower.snapshot.rules(of: "root").count == 2)
            #expect(try await follower.applyCopiedChanges() == 0)
        }
    }
}
