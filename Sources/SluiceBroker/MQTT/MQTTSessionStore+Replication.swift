import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// The link of a replicated group's MQTT sessions to the log.
struct MQTTSessionReplicationState: Sendable {
    var journal: MQTTSessionChangeJournal
    /// Replays the session queue; a cut tail names client ids.
    var follower: CopiedChangeFollower<Set<String>>
    /// Kept sessions with an expiry interval that the log says are connected (to the leader):
    /// at promotion their connection is gone, so their expiry starts counting then.
    var connectedToLeader: Set<String> = []
}

/// Kept MQTT sessions of a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15)
/// follow the log like the retained messages do: every change of a kept session on the leader
/// is a record of the session as it stands afterwards (`MQTTSessionChangeJournal`) before its
/// rows change; followers apply the copied records at start-up, every 100 ms and once more at
/// promotion, so a client reconnecting to a new leader with clean session 0 finds its session
/// (subscriptions, their options and identifiers, the expiry interval). Its place in the
/// messages is its consumer group, which follows the log on its own.
extension MQTTSessionStore {
    /// Makes kept-session changes go through the log from now on; call before the store is published.
    public func replicate(through journal: MQTTSessionChangeJournal) {
        let follower = CopiedChangeFollower<Set<String>>(
            queue: MQTTSessionChangeJournal.queue, label: "mqtt.sessions", logger: logger,
            cursors: executor.map { JournalCursorTable(executor: $0, queue: MQTTSessionChangeJournal.queue.topic) })
        replication.withLock { $0 = MQTTSessionReplicationState(journal: journal, follower: follower) }
    }

    /// On a follower, refuses a change of `clientId` that would touch a kept session (`keeps`: the
    /// change itself makes one), before anything changes.
    func refuseOnFollower(_ clientId: String, keeps: Bool = false) throws(BrokerError) {
        guard let journal = replication.withLock({ $0?.journal }) else { return }
        guard keeps || session(clientId)?.durable == true else { return }
        try journal.refuseOnFollower()
    }

    /// In a replicated group, records the session of `clientId` as it stands now (none when it
    /// is not kept). Call inside `writes`, after the change in memory and before the rows change.
    func recordChange(of clientId: String, if needed: Bool) async throws(BrokerError) {
        guard needed, let journal = replication.withLock({ $0?.journal }) else { return }
        try await journal.record(MQTTSessionChange(clientId: clientId, session: session(clientId)))
    }

    /// Applies the session records copied into the log since the last call, in order, and moves
    /// the cursor past them. Returns how many records were read. Runs at start-up (from the
    /// stored cursor, `journal_cursors`), every follower tick and at promotion.
    /// - Throws: `BrokerError` `.storageFailure` when the tables cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return 0 }
        return try await writes.run { @Sendable () async throws(BrokerError) -> Int in
            try await follower.replay(log) { record throws(BrokerError) in
                if let change = MQTTSessionChange(record: record) { try await applyCopied(change) }
            }
        }
    }

    /// Makes the tables hold `change` (its kept session, or none) unless they already do; its
    /// QoS 2 packet ids too, unless the record carries none (written before they were recorded).
    /// Call inside `writes`. Returns whether anything changed.
    @discardableResult
    func applyCopied(_ change: MQTTSessionChange) async throws(BrokerError) -> Bool {
        let clientId = change.clientId
        let current = session(clientId)
        replication.withLock { state in
            if let kept = change.kept, kept.expirySeconds != nil, kept.disconnectedAtMs == nil {
                state?.connectedToLeader.insert(clientId)
            } else {
                state?.connectedToLeader.remove(clientId)
            }
        }
        guard let kept = change.kept else {
            guard current?.durable == true else { return false }
            sessions.withLock { _ = $0.removeValue(forKey: clientId) }
            try await writeRows("forget the MQTT session of \(clientId.prefix(64))") { connection in
                try connection.run("DELETE FROM mqtt_sessions WHERE client_id = ?", [.text(clientId)])
            }
            return true
        }
        if let current, Self.holds(current, kept) { return false }
        var session = current ?? Session(durable: true)
        session.durable = true
        session.expirySeconds = kept.expirySeconds
        session.disconnectedAtMs = kept.disconnectedAtMs
        session.filters = Dictionary(kept.subscriptions.map { ($0.filter, $0.options) }, uniquingKeysWith: { $1 })
        session.identifiers = Dictionary(
            kept.subscriptions.compactMap { subscription in subscription.identifier.map { (subscription.filter, $0) } },
            uniquingKeysWith: { $1 })
        if let inbound = kept.inbound { session.inbound = Set(inbound) }
        if let outbound = kept.outbound {
            session.outbound = Dictionary(
                outbound.map { ($0.packetId, Outbound(origin: $0.origin, released: $0.released)) }, uniquingKeysWith: { $1 })
        }
        let replaced = session
        sessions.withLock { $0[clientId] = replaced }
        let createdAt = nowMs()
        try await writeRows("store the MQTT session of \(clientId.prefix(64))") { connection in
            let expiry: SQLiteValue = kept.expirySeconds.map { .integer(Int64($0)) } ?? .null
            let disconnectedAt: SQLiteValue = kept.disconnectedAtMs.map { .integer($0) } ?? .null
            // An upsert, not a delete and insert: the session's QoS 2 rows (cascading) stay.
            try connection.run(
                "INSERT INTO mqtt_sessions (client_id, created_at_ms, expiry_seconds, disconnected_at_ms) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (client_id) DO UPDATE SET expiry_seconds = excluded.expiry_seconds, "
                    + "disconnected_at_ms = excluded.disconnected_at_ms",
                [.text(clientId), .integer(createdAt), expiry, disconnectedAt])
            try connection.run("DELETE FROM mqtt_session_subscriptions WHERE client_id = ?", [.text(clientId)])
            for subscription in kept.subscriptions {
                try connection.run(
                    "INSERT INTO mqtt_session_subscriptions (client_id, filter, qos, options, identifier) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(clientId), .text(subscription.filter), .integer(Int64(subscription.options & 0b11)),
                        .integer(Int64(subscription.options)), subscription.identifier.map { .integer(Int64($0)) } ?? .null,
                    ])
            }
            guard kept.inbound != nil || kept.outbound != nil else { return }
            try connection.run("DELETE FROM mqtt_session_qos2 WHERE client_id = ?", [.text(clientId)])
            for packetId in replaced.inbound.sorted() {
                try connection.run(
                    "INSERT INTO mqtt_session_qos2 (client_id, direction, packet_id) VALUES (?, 'in', ?)",
                    [.text(clientId), .integer(Int64(packetId))])
            }
            for (packetId, delivery) in replaced.outbound.sorted(by: { $0.key < $1.key }) {
                try connection.run(
                    "INSERT INTO mqtt_session_qos2 (client_id, direction, packet_id, origin, released) VALUES (?, 'out', ?, ?, ?)",
                    [.text(clientId), .integer(Int64(packetId)), .text(delivery.origin), .integer(delivery.released ? 1 : 0)])
            }
        }
        return true
    }

    /// Whether `session` already is what `kept` says (its QoS 2 ids only when the record has them).
    private static func holds(_ session: Session, _ kept: MQTTSessionChange.Kept) -> Bool {
        guard var recorded = MQTTSessionChange(clientId: "", session: session).kept else { return false }
        if kept.inbound == nil { recorded.inbound = nil }
        if kept.outbound == nil { recorded.outbound = nil }
        return recorded == kept
    }

    /// This broker now leads: the kept sessions with an expiry interval that were connected to the
    /// old leader lost that connection, so their expiry counts from now (in memory, like a
    /// restart's load does). Call after the last `applyCopiedChanges()` of the promotion.
    public func connectionsEndedWithTheOldLeader() async {
        let now = nowMs()
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            let ended = replication.withLock { state in
                defer { state?.connectedToLeader = [] }
                return state?.connectedToLeader ?? []
            }
            sessions.withLock { sessions in
                for clientId in ended where sessions[clientId]?.durable == true && sessions[clientId]?.expirySeconds != nil {
                    if sessions[clientId]?.disconnectedAtMs == nil { sessions[clientId]?.disconnectedAtMs = now }
                }
            }
        }
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the client ids the tail's
    /// records named (so `copiedLogTruncated()` can put them back as the remaining log defines
    /// them) and stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            follower.noteCut(
                log, from: cut, names: { Set($0.compactMap { MQTTSessionChange(record: $0)?.clientId }) }, merge: { $0.union($1) })
        }
    }

    /// The log was cut: each client id a cut record named gets the session of the last record
    /// left in the queue for it (none when no record names it), and the cursor moves to the
    /// queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            guard let clientIds = await follower.endCut(log), !clientIds.isEmpty else { return }
            var lastKept: [String: MQTTSessionChange] = [:]
            follower.forEachRemainingRecord(log) { record in
                guard let change = MQTTSessionChange(record: record), clientIds.contains(change.clientId) else { return }
                lastKept[change.clientId] = change
            }
            for clientId in clientIds.sorted() {
                let restored = lastKept[clientId] ?? MQTTSessionChange(clientId: clientId, kept: nil)
                do throws(BrokerError) {
                    if try await applyCopied(restored) {
                        logger.warning(
                            "MQTT session put back as the cut log defines it", metadata: ["mqtt.client": "\(clientId.prefix(64))"])
                    }
                } catch {
                    logger.error(
                        "MQTT session change of a cut log tail not undone",
                        metadata: ["mqtt.client": "\(clientId.prefix(64))", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled. Returns at once when the sessions are not replicated.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        guard let (log, follower) = replication.withLock({ $0.map { ($0.journal.log, $0.follower) } }) else { return }
        await follower.follow(log, every: interval, what: "MQTT session changes") {
            try await applyCopiedChanges()
        } passOwn: {
            _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in await follower.passOwnRecords(log) }
        }
    }

    private func writeRows(_ what: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> Void) async throws(BrokerError) {
        guard let executor else { return }
        do {
            try await executor.write(body)
        } catch {
            throw BrokerError(.storageFailure, "cannot \(what): \(error)", cause: error)
        }
    }
}
