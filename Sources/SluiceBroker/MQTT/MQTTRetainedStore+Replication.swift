import Logging
import SluiceStorage
import Synchronization

/// The link of a replicated group's retained messages to the log.
struct MQTTRetainedReplicationState: Sendable {
    var journal: MQTTRetainedChangeJournal
    /// Replays the retained queue; a cut tail names topics.
    var follower: CopiedChangeFollower<Set<String>>
}

/// MQTT retained messages of a replicated broker group (`--replicas` ≥ 2, docs/architecture.md
/// §15) follow the log like users and lite subscriptions do: every change on the leader is a
/// record of the topic's retained message as it stands afterwards (`MQTTRetainedChangeJournal`)
/// before the table changes; followers apply the copied records at start-up, every 100 ms and
/// once more at promotion, so a client subscribing on a new leader gets the retained messages it
/// would have got on the old one. The follower applies no limit: the leader did.
extension MQTTRetainedStore {
    /// Makes retained-message changes go through the log from now on; call before the store is published.
    public func replicate(through journal: MQTTRetainedChangeJournal) {
        // Few records per look-up: each may carry a payload of up to a message's size.
        let follower = CopiedChangeFollower<Set<String>>(
            queue: MQTTRetainedChangeJournal.queue, batch: 32, label: "mqtt.retained", logger: logger,
            cursors: executor.map { JournalCursorTable(executor: $0, queue: MQTTRetainedChangeJournal.queue.topic) })
        replication.withLock { $0 = MQTTRetainedReplicationState(journal: journal, follower: follower) }
    }

    /// Applies the retained records copied into the log since the last call, in order, and moves
    /// the cursor past them. Returns how many records were read. Runs at start-up (from the
    /// stored cursor, `journal_cursors`), every follower tick and at promotion.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return 0 }
        return try await writes.run { @Sendable () async throws(BrokerError) -> Int in
            try await follower.replay(log) { record throws(BrokerError) in
                if let change = MQTTRetainedChange(record: record) { try await applyCopied(change) }
            }
        }
    }

    /// Makes the table hold `change` (its message, or no message for an empty payload) unless it
    /// already does. Call inside `writes`. Returns whether anything changed.
    @discardableResult
    func applyCopied(_ change: MQTTRetainedChange) async throws(BrokerError) -> Bool {
        let current = message(of: change.topic)
        let wanted = change.payload.isEmpty ? nil : Message(topic: change.topic, payload: change.payload, qos: change.qos)
        if current == wanted { return false }
        try await store(change)
        return true
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the topics the tail's records
    /// changed (so `copiedLogTruncated()` can put them back as the remaining log defines them)
    /// and stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            follower.noteCut(log, from: cut, names: { Set($0.compactMap(MQTTRetainedChange.topic(of:))) }, merge: { $0.union($1) })
        }
    }

    /// The log was cut: each topic a cut record changed gets the retained message the last
    /// record left in the queue for it holds (none when no record names it), and the cursor moves
    /// to the queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            guard let topics = await follower.endCut(log), !topics.isEmpty else { return }
            var lastKept: [String: MQTTRetainedChange] = [:]
            follower.forEachRemainingRecord(log) { record in
                guard let change = MQTTRetainedChange(record: record), topics.contains(change.topic) else { return }
                lastKept[change.topic] = change
            }
            for topic in topics.sorted() {
                let restored = lastKept[topic] ?? MQTTRetainedChange(topic: topic, payload: [], qos: 0)
                do throws(BrokerError) {
                    if try await applyCopied(restored) {
                        logger.warning(
                            "retained message put back as the cut log defines it", metadata: ["mqtt.topic": "\(topic.prefix(64))"])
                    }
                } catch {
                    logger.error(
                        "retained message change of a cut log tail not undone",
                        metadata: ["mqtt.topic": "\(topic.prefix(64))", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled. Returns at once when retained messages are not replicated.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await follower.follow(log, every: interval, what: "retained message changes") {
            try await applyCopiedChanges()
        } passOwn: {
            _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in await follower.passOwnRecords(log) }
        }
    }
}
