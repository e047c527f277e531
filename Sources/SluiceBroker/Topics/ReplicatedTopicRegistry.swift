import Logging
import NIOCore
import SluiceStorage

/// The topic registry of a broker in a replicated group (`--replicas` ≥ 2, docs/architecture.md
/// §15): every create and delete is a record in the commit log's metadata queue
/// (`RMQ_SYS_SLUICE_METADATA#0`) before it changes the local table, so the followers, which copy
/// the log byte for byte, find it there and apply it. A follower that was down copies the records
/// it missed when it returns; a follower promoted to leader has applied every record it copied
/// (`applyCopiedChanges()` runs once more before local appends are accepted).
///
/// Only the leader changes topics: the records are local appends, which a follower refuses, so a
/// create or delete sent to a follower fails with `.notLeader` naming the leader. Under
/// `--replication sync` a change returns once a majority holds its record (the append waits like
/// a send); one that times out may still reach the followers, like a send.
///
/// Reads (`topic(named:)`, `list()`) are the local table's. Replaying the queue from any point
/// in order ends at the same table: applying a record twice changes nothing.
public final class ReplicatedTopicRegistry: TopicRegistry {
    public static let queue = QueueID(topic: "RMQ_SYS_SLUICE_METADATA", queueId: 0)
    /// The record type byte of a metadata change (no message for consumers).
    public static let recordKind: UInt8 = 33

    enum Property {
        static let change = "SLUICE_META_CHANGE"
        static let topic = "SLUICE_META_TOPIC"
        static let type = "SLUICE_META_TYPE"
        static let queues = "SLUICE_META_QUEUES"
    }

    enum Change: String {
        case createTopic = "topic.create"
        case deleteTopic = "topic.delete"
    }

    public let local: any TopicRegistry
    let log: CommitLog
    let leader: @Sendable () -> String?
    let logger: Logger
    let serializer = KeyedSerializer()
    /// Replays the metadata queue; a cut tail names topics.
    let follower: CopiedChangeFollower<Set<String>>

    /// - Parameter leader: the node id of the group's leader as this broker last learned it
    ///   (nil while unknown), for the refusal a follower answers.
    public init(local: any TopicRegistry, log: CommitLog, leader: @escaping @Sendable () -> String?, logger: Logger) {
        self.local = local
        self.log = log
        self.leader = leader
        self.logger = logger
        follower = CopiedChangeFollower(
            queue: Self.queue, label: "metadata", logger: logger,
            cursors: (local as? SQLiteTopicRegistry).map { JournalCursorTable(executor: $0.executor, queue: Self.queue.topic) })
    }

    public func topic(named name: String) async throws(BrokerError) -> TopicDefinition? {
        try await local.topic(named: name)
    }

    public func list() async throws(BrokerError) -> [TopicDefinition] {
        try await local.list()
    }

    public func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) -> TopicDefinition {
        try TopicName.validate(name)
        try TopicDefinition.validateQueueCount(queueCount)
        return try await serializer.run("changes") { () async throws(BrokerError) -> TopicDefinition in
            // A different one is refused by the table (no record). An identical repeat is
            // recorded again: harmless to replay, and how a topic made before the group was
            // replicated (no record yet) reaches the followers.
            if try await local.topic(named: name) != nil {
                let existing = try await local.create(name: name, type: type, queueCount: queueCount)
                try await append(
                    .createTopic, name: name,
                    [(Property.type, existing.messageType.rawValue), (Property.queues, "\(existing.queueCount)")])
                return existing
            }
            try await append(
                .createTopic, name: name,
                [(Property.type, type.rawValue), (Property.queues, "\(queueCount)")])
            return try await local.create(name: name, type: type, queueCount: queueCount)
        }
    }

    public func delete(named name: String) async throws(BrokerError) -> Bool {
        try await serializer.run("changes") { () async throws(BrokerError) -> Bool in
            guard try await local.topic(named: name) != nil else { return false }
            try await append(.deleteTopic, name: name, [])
            return try await local.delete(named: name)
        }
    }

    /// Appends one change record; returns once it is acknowledged (a majority holds it under sync).
    private func append(_ change: Change, name: String, _ extra: [(String, String)]) async throws(BrokerError) {
        if log.refusesLocalAppends {
            let named = FollowerRefusal.leaderPhrase(leader())
            throw BrokerError(
                .notLeader,
                "this broker follows its broker group's leader (\(named)): topics are created and deleted on the leader, "
                    + "and reach the followers through the replicated log")
        }
        let record = MessageRecord(
            topic: Self.queue.topic, queueId: Self.queue.queueId,
            properties: [(Property.change, change.rawValue), (Property.topic, name)] + extra, body: ByteBuffer(),
            bornTimestampMs: WallClock.nowMs(), messageType: Self.recordKind)
        do throws(StorageError) {
            let appended = try await log.append(record)
            logger.info(
                "topic change replicated",
                metadata: ["change": "\(change.rawValue)", "topic.name": "\(name)", "metadata.offset": "\(appended.queueOffset)"])
        } catch {
            let code: BrokerError.Code = error.code == .notLeader ? .notLeader : .storageFailure
            throw BrokerError(code, "cannot record the topic change (\(change.rawValue) \(name)): \(error.message)", cause: error)
        }
    }

    // MARK: following

    /// Applies the metadata records copied into the log since the last call, in order, and
    /// moves the cursor past them. Returns how many were applied. Runs at start-up (from the
    /// stored cursor, `journal_cursors`), every follower tick, and at promotion.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        try await serializer.run("changes") { () async throws(BrokerError) -> Int in
            try await follower.replay(log) { record throws(BrokerError) in try await apply(record) }
        }
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the topics the tail's records
    /// name (so `copiedLogTruncated()` can put them back as the remaining log defines them) and
    /// stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        await serializer.run("changes") { () async -> Void in
            follower.noteCut(log, from: cut, names: { Set($0.compactMap { $0.property(Property.topic) }) }, merge: { $0.union($1) })
        }
    }

    /// The log was cut: each topic a cut record named is put back as the records left in the
    /// queue define it (created, recreated or deleted here; a topic no record defines any more
    /// is deleted), and the cursor moves to the queue's new end (records copied there later are
    /// applied as usual).
    public func copiedLogTruncated() async {
        await serializer.run("changes") { () async -> Void in
            guard let names = await follower.endCut(log), !names.isEmpty else { return }
            var defined: [String: (TopicMessageType, Int)] = [:]
            follower.forEachRemainingRecord(log) { record in
                guard let change = record.property(Property.change).flatMap(Change.init),
                    let name = record.property(Property.topic), names.contains(name)
                else { return }
                switch change {
                case .createTopic:
                    if let type = record.property(Property.type).flatMap(TopicMessageType.init(rawValue:)),
                        let queues = record.property(Property.queues).flatMap(Int.init)
                    {
                        defined[name] = (type, queues)
                    }
                case .deleteTopic:
                    defined[name] = nil
                }
            }
            for name in names.sorted() {
                do throws(BrokerError) {
                    let existing = try await local.topic(named: name)
                    if let (type, queues) = defined[name] {
                        if existing?.messageType == type && existing?.queueCount == queues { continue }
                        if existing != nil { _ = try await local.delete(named: name) }
                        _ = try await local.create(name: name, type: type, queueCount: queues)
                    } else if existing != nil {
                        _ = try await local.delete(named: name)
                    } else {
                        continue
                    }
                    logger.warning("topic put back as the cut log defines it", metadata: ["topic.name": "\(name)"])
                } catch {
                    logger.error("topic change of a cut log tail not undone", metadata: ["topic.name": "\(name)", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        await follower.follow(log, every: interval, what: "topic changes") {
            try await applyCopiedChanges()
        } passOwn: {
            await serializer.run("changes") { () async -> Void in await follower.passOwnRecords(log) }
        }
    }

    private func apply(_ record: StoredRecord) async throws(BrokerError) {
        guard let change = record.property(Property.change).flatMap(Change.init), let name = record.property(Property.topic)
        else { return }
        switch change {
        case .createTopic:
            guard let type = record.property(Property.type).flatMap(TopicMessageType.init(rawValue:)),
                let queues = record.property(Property.queues).flatMap(Int.init)
            else { return }
            if let existing = try await local.topic(named: name) {
                if existing.messageType == type && existing.queueCount == queues { return }
                // Recreated on the leader with another type or queue count: the leader's record wins.
                _ = try await local.delete(named: name)
            }
            do throws(BrokerError) {
                _ = try await local.create(name: name, type: type, queueCount: queues)
                logger.info("copied topic created", metadata: ["topic.name": "\(name)", "topic.type": "\(type)"])
            } catch where error.code == .invalidArgument {
                logger.error("copied topic change not applicable", metadata: ["topic.name": "\(name)", "error": "\(error)"])
            }
        case .deleteTopic:
            if try await local.delete(named: name) {
                logger.info("copied topic deleted", metadata: ["topic.name": "\(name)"])
            }
        }
    }
}
