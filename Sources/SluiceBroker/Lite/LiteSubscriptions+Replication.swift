import Logging
import SluiceStorage
import Synchronization

/// The link of a replicated group's lite subscriptions to the log.
struct LiteReplicationState: Sendable {
    var journal: LiteChangeJournal
    /// Replays the lite queue; a cut tail names lite topics per (group, parent topic).
    var follower: CopiedChangeFollower<[LiteSubscriptions.Key: Set<String>]>
}

/// Lite subscriptions of a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15)
/// follow the log like topics and users do: every change on the leader (the names a
/// SyncLiteSubscription actually added or removed; a resync that changes nothing writes nothing)
/// is a record (`LiteChangeJournal`) before the table changes; followers apply the copied
/// records at start-up, every 100 ms and once more at promotion, so a new leader filters a
/// group's lite messages as the old one did. The follower applies no quota: the leader did.
extension LiteSubscriptions {
    /// Makes subscription changes go through the log from now on; call before the store is published.
    public func replicate(through journal: LiteChangeJournal) {
        let follower = CopiedChangeFollower<[Key: Set<String>]>(
            queue: LiteChangeJournal.queue, label: "lite", logger: logger,
            cursors: executor.map { JournalCursorTable(executor: $0, queue: LiteChangeJournal.queue.topic) })
        replication.withLock { $0 = LiteReplicationState(journal: journal, follower: follower) }
    }

    /// Applies the lite records copied into the log since the last call, in order, and moves the
    /// cursor past them. Returns how many records were read. Runs at start-up (from the queue's
    /// start), every follower tick and at promotion.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return 0 }
        return try await writes.run { @Sendable () async throws(BrokerError) -> Int in
            try await follower.replay(log) { record throws(BrokerError) in
                if let delta = LiteSubscriptionDelta(record: record) { try await applyCopied(delta) }
            }
        }
    }

    /// Makes the table hold `delta` (its added names present, its removed ones absent) unless it
    /// already does. Call inside `writes`. Returns whether anything changed.
    @discardableResult
    func applyCopied(_ delta: LiteSubscriptionDelta) async throws(BrokerError) -> Bool {
        let current = snapshot.withLock { $0.sets[delta.key] ?? [] }
        let added = delta.added.subtracting(current)
        let removed = delta.removed.intersection(current)
        if added.isEmpty, removed.isEmpty { return false }
        try await store(delta.key, added: added, removed: removed)
        return true
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the names the tail's records
    /// changed (so `copiedLogTruncated()` can put them back as the remaining log defines them)
    /// and stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            follower.noteCut(
                log, from: cut,
                names: { records in
                    var names: [Key: Set<String>] = [:]
                    for delta in records.compactMap(LiteSubscriptionDelta.init(record:)) {
                        names[delta.key, default: []].formUnion(delta.added.union(delta.removed))
                    }
                    return names
                },
                merge: { $0.merging($1) { $0.union($1) } })
        }
    }

    /// The log was cut: each name a cut record changed is made present or absent as the last
    /// record left in the queue that names it says (absent when none does), and the cursor moves
    /// to the queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            guard let names = await follower.endCut(log), !names.isEmpty else { return }
            var present: [Key: Set<String>] = [:]
            follower.forEachRemainingRecord(log) { record in
                guard let delta = LiteSubscriptionDelta(record: record), let named = names[delta.key] else { return }
                present[delta.key, default: []].formUnion(delta.added.intersection(named))
                present[delta.key, default: []].subtract(delta.removed)
            }
            for (key, named) in names.sorted(by: { ($0.key.group, $0.key.topic) < ($1.key.group, $1.key.topic) }) {
                let kept = present[key] ?? []
                let restored = LiteSubscriptionDelta(group: key.group, topic: key.topic, added: kept, removed: named.subtracting(kept))
                do throws(BrokerError) {
                    if try await applyCopied(restored) {
                        logger.warning(
                            "lite subscriptions put back as the cut log defines them",
                            metadata: ["group": "\(key.group)", "topic": "\(key.topic)"])
                    }
                } catch {
                    logger.error(
                        "lite subscription change of a cut log tail not undone",
                        metadata: ["group": "\(key.group)", "topic": "\(key.topic)", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled. Returns at once when the subscriptions are not replicated.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await follower.follow(log, every: interval, what: "lite subscription changes") {
            try await applyCopiedChanges()
        } passOwn: {
            _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in await follower.passOwnRecords(log) }
        }
    }
}
