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
    /// The security-queue offset below which every record is applied here; nil: replay from the
    /// queue's start (every start-up does once).
    var cursor: UInt64?
    /// Between `forgetLogTail(from:)` and `copiedLogTruncated()`: the first security-queue offset
    /// of the tail being cut (replays stop before it) and the users its records named.
    var pendingCut: (firstOffset: UInt64, accessKeys: Set<String>)?
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
        replication.withLock { $0 = SecurityReplicationState(journal: journal) }
    }

    /// Applies the security records copied into the log since the last call, in order, and
    /// moves the cursor past them. Returns how many records were read. Runs at start-up (from
    /// the queue's start), every follower tick and at promotion.
    /// - Throws: `SecurityError` `.storageFailure` when the tables cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(SecurityError) -> Int {
        guard let log = replication.withLock({ $0?.journal.log }) else { return 0 }
        return try await changes.run("changes") { () async throws(SecurityError) -> Int in
            let queue = SecurityChangeJournal.queue
            var bounds = log.queueBounds(queue)
            let (start, cut) = replication.withLock { ($0?.cursor, $0?.pendingCut?.firstOffset) }
            if let cut { bounds.next = min(bounds.next, cut) }
            var offset = max(bounds.min, min(bounds.next, start ?? bounds.min))
            var read = 0
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(256, bounds.next - offset)))
                if entries.isEmpty { break }
                for entry in entries {
                    try await applyRecord(entry, of: log)
                    read += 1
                    offset = entry.queueOffset + 1
                    replication.withLock { $0?.cursor = offset }
                }
            }
            replication.withLock { state in
                let reached = max(state?.cursor ?? bounds.next, offset)
                state?.cursor = reached
            }
            return read
        }
    }

    /// Applies one copied record; an unreadable or undecodable one is logged and skipped (it
    /// would fail the same way every time).
    private func applyRecord(_ entry: QueueEntry, of log: CommitLog) async throws(SecurityError) {
        guard let record = try? log.read(entry, of: SecurityChangeJournal.queue) else {
            logger.error("security record unreadable; skipped", metadata: ["security.offset": "\(entry.queueOffset)"])
            return
        }
        let change: SecurityChange
        do throws(SecurityError) {
            change = try SecurityChange(record: record)
        } catch {
            logger.error(
                "security record not applicable; skipped",
                metadata: ["security.offset": "\(entry.queueOffset)", "error": "\(error.message)"])
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
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        await changes.run("changes") { () async -> Void in
            let queue = SecurityChangeJournal.queue
            let bounds = log.queueBounds(queue)
            var first = bounds.next
            var accessKeys = Set<String>()
            for entry in log.queueEntries(queue, from: bounds.min, maxCount: Int(min(UInt64(Int.max), bounds.next - bounds.min)))
            where entry.physicalOffset >= cut {
                first = min(first, entry.queueOffset)
                if let accessKey = (try? log.read(entry, of: queue)).flatMap(SecurityChange.accessKey(of:)) {
                    accessKeys.insert(accessKey)
                }
            }
            replication.withLock { state in
                let pending = state?.pendingCut
                state?.pendingCut = (min(pending?.firstOffset ?? first, first), accessKeys.union(pending?.accessKeys ?? []))
            }
        }
    }

    /// The log was cut: each user a cut record named is put back as the last record left in the
    /// queue defines it; with none left, as `--bootstrap-user-file` defines it, or deleted. The
    /// cursor moves to the queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        await changes.run("changes") { () async -> Void in
            let queue = SecurityChangeJournal.queue
            let bounds = log.queueBounds(queue)
            let cut = replication.withLock { state in
                let kept = min(state?.cursor ?? bounds.next, bounds.next)
                state?.cursor = kept
                defer { state?.pendingCut = nil }
                return state?.pendingCut
            }
            guard let cut, !cut.accessKeys.isEmpty else { return }
            var defined: [String: SecurityChange] = [:]
            for entry in log.queueEntries(queue, from: bounds.min, maxCount: Int(min(UInt64(Int.max), bounds.next - bounds.min))) {
                guard let record = try? log.read(entry, of: queue), let accessKey = SecurityChange.accessKey(of: record),
                    cut.accessKeys.contains(accessKey), let change = try? SecurityChange(record: record)
                else { continue }
                defined[accessKey] = change
            }
            for accessKey in cut.accessKeys.sorted() {
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
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        while !Task.isCancelled {
            if log.refusesLocalAppends {
                do throws(SecurityError) {
                    try await applyCopiedChanges()
                } catch {
                    logger.warning("copied user changes not applied yet", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
