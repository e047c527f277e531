import Logging
import SluiceStorage
import Synchronization

/// What a user change decided: the change to record and write, what the caller gets back, and
/// the audit row written with it on this broker.
struct UserChange<Result: Sendable>: Sendable {
    var change: SecurityChange
    var result: Result
    var audit: AuditEntry
}

struct AuditEntry: Sendable {
    var actor: String
    var action: String
    var detail: String
    var at: Int64
}

/// The link of a replicated group's security store to the log.
struct SecurityReplicationState: Sendable {
    var journal: SecurityChangeJournal
    /// Replays the security queue; a cut tail names users (access keys).
    var follower: CopiedChangeFollower<Set<String>>
}

/// Users and access rules of a replicated broker group (`--replicas` ≥ 2, docs/architecture.md
/// §15) follow the log the way topics do (`ReplicatedTopicRegistry`): every change on the leader
/// is a record of the user as it stands afterwards (`SecurityChangeJournal`) before the tables
/// change; followers apply the copied records at start-up, every 100 ms and once more at
/// promotion. A record replaces its user outright, so applying one twice, or replaying the queue
/// from any point in order, ends at the leader's tables.
///
/// Stays on each broker: the audit rows (who changed what is written where the change was made;
/// a follower applying a copy writes none) and the `--bootstrap-user-file` users, which every
/// broker creates from its own configuration when they do not exist (a change made to one on
/// the leader is recorded and reaches the followers like any other).
extension SecurityStore {
    /// Makes user changes go through the log from now on; call before the store is published.
    public func replicate(through journal: SecurityChangeJournal) {
        let follower = CopiedChangeFollower<Set<String>>(
            queue: SecurityChangeJournal.queue, label: "security", logger: logger,
            cursors: JournalCursorTable(executor: executor, queue: SecurityChangeJournal.queue.topic))
        replication.withLock { $0 = SecurityReplicationState(journal: journal, follower: follower) }
    }

    /// Applies the security records copied into the log since the last call, in order, and
    /// moves the cursor past them. Returns how many records were read. Runs at start-up (from
    /// the stored cursor, `journal_cursors`), every follower tick and at promotion.
    /// - Throws: `SecurityError` `.storageFailure` when the tables cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(SecurityError) -> Int {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return 0 }
        return try await changes.run("changes") { () async throws(SecurityError) -> Int in
            try await follower.replay(log) { record throws(SecurityError) in try await applyRecord(record) }
        }
    }

    /// Applies one copied record; one that does not decode is logged and skipped (it would fail
    /// the same way every time).
    private func applyRecord(_ record: StoredRecord) async throws(SecurityError) {
        let change: SecurityChange
        do throws(SecurityError) {
            change = try SecurityChange(record: record)
        } catch {
            logger.error(
                "security record not applicable; skipped",
                metadata: ["security.offset": "\(record.queueOffset)", "error": "\(error.message)"])
            return
        }
        if try await applyCopied(change) {
            logger.info("copied user change applied", metadata: ["change": "\(change.kind.rawValue)", "user.accessKey": "\(change.accessKey)"])
        }
    }

    /// Makes the tables hold `change` unless they already do; no audit row (the broker that made
    /// the change wrote one). Returns whether anything changed.
    func applyCopied(_ change: SecurityChange) async throws(SecurityError) -> Bool {
        try await self.change("apply the copied change of user \(change.accessKey)", reloadWhen: { $0 }) { connection in
            let current = try Self.userState(connection, change.accessKey)
            switch change {
            case .save(let user) where current == user: return false
            case .delete where current == nil: return false
            default:
                try Self.write(change, connection)
                return true
            }
        }
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the users the tail's records
    /// name (so `copiedLogTruncated()` can put them back as the remaining log defines them) and
    /// stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await changes.run("changes") { () async -> Void in
            follower.noteCut(log, from: cut, names: { Set($0.compactMap(SecurityChange.accessKey(of:))) }, merge: { $0.union($1) })
        }
    }

    /// The log was cut: each user a cut record named is put back as the last record left in the
    /// queue defines it; with none left, as `--bootstrap-user-file` defines it, or deleted. The
    /// cursor moves to the queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await changes.run("changes") { () async -> Void in
            guard let accessKeys = await follower.endCut(log), !accessKeys.isEmpty else { return }
            var defined: [String: SecurityChange] = [:]
            follower.forEachRemainingRecord(log) { record in
                guard let accessKey = SecurityChange.accessKey(of: record), accessKeys.contains(accessKey),
                    let change = try? SecurityChange(record: record)
                else { return }
                defined[accessKey] = change
            }
            for accessKey in accessKeys.sorted() {
                let bootstrapped = bootstrap.first { $0.accessKey == accessKey }.map { credential in
                    SecurityChange.save(SecurityUserState.bootstrap(credential, at: nowMs()))
                }
                let restored = defined[accessKey] ?? bootstrapped ?? SecurityChange.delete(accessKey: accessKey)
                do throws(SecurityError) {
                    if try await applyCopied(restored) {
                        logger.warning("user put back as the cut log defines it", metadata: ["user.accessKey": "\(accessKey)"])
                    }
                } catch {
                    logger.error(
                        "user change of a cut log tail not undone", metadata: ["user.accessKey": "\(accessKey)", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled. Returns at once when the store is not replicated.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await follower.follow(log, every: interval, what: "user changes") {
            try await applyCopiedChanges()
        } passOwn: {
            await changes.run("changes") { () async -> Void in await follower.passOwnRecords(log) }
        }
    }
}
