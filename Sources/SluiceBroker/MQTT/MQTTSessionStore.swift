import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// MQTT sessions for the MQTT access front (MQTT 3.1.1 §3.1.2.4, MQTT 5 §4.1): each client id's
/// subscriptions and QoS 2 packet identifiers in flight. A kept ("durable") session (MQTT 3.1.1
/// clean session 0, or an MQTT 5 session expiry interval above 0) is written to
/// `mqtt_sessions`, `mqtt_session_subscriptions` and `mqtt_session_qos2` (migrations 0011, 0012) and
/// loaded at start, so it survives a restart, `kill -9` included; a clean session lives in memory
/// for its connection only. The messages waiting for a session are not here: they are in the
/// commit log, and its place in them is its consumer group's durable state.
///
/// Writes happen on CONNECT (a new or discarded session), SUBSCRIBE, UNSUBSCRIBE and the QoS 2
/// flows; QoS 0 and 1 messages write nothing here. Memory changes first and the write follows,
/// awaited before the caller answers the client; a failed write is thrown, and the caller closes
/// the connection.
///
/// Bounded: at most `maxSessions` sessions; each session's filters and packet ids are bounded by
/// the caller's per-session limits.
///
/// In a replicated broker group every change of a kept session, its QoS 2 packet ids included, is
/// first a record in the log, and followers apply the copied records
/// (`MQTTSessionStore+Replication`, docs/architecture.md §15).
public final class MQTTSessionStore: Sendable {
    /// A QoS 2 delivery to the client (§4.3.3): the message it carries and whether PUBREC came.
    public struct Outbound: Sendable, Equatable {
        /// Where the message is in Sluice: group, topic, queue and offset (`origin(...)`).
        public var origin: String
        /// PUBREC came and PUBREL was sent: only PUBREL is sent again.
        public var released: Bool

        public init(origin: String, released: Bool) {
            self.origin = origin
            self.released = released
        }
    }

    public struct Session: Sendable, Equatable {
        /// Clean session 0: kept across connections and restarts.
        public var durable: Bool
        /// Topic filter (as subscribed) → its MQTT 5 subscription options byte, whose low two
        /// bits are the granted QoS (for an MQTT 3.1.1 subscription it is the QoS).
        public var filters: [String: UInt8] = [:]
        /// Topic filter → its MQTT 5 subscription identifier, for the filters that have one.
        public var identifiers: [String: Int] = [:]
        /// Seconds a kept session outlives its connection (MQTT 5); nil never ends.
        public var expirySeconds: UInt32?
        /// When its last connection ended; nil while connected (or never ends).
        public var disconnectedAtMs: Int64?
        /// QoS 2 PUBLISH packet ids from the client that were stored and await PUBREL.
        public var inbound: Set<UInt16> = []
        /// QoS 2 deliveries to the client that await PUBREC or PUBCOMP, by packet id.
        public var outbound: [UInt16: Outbound] = [:]

        public init(durable: Bool, expirySeconds: UInt32? = nil) {
            self.durable = durable
            self.expirySeconds = expirySeconds
        }

        /// Whether a disconnected session with an expiry interval has outlived it at `nowMs`.
        public func hasExpired(nowMs: Int64) -> Bool {
            guard let expirySeconds, let disconnectedAtMs else { return false }
            let (elapsed, overflow) = nowMs.subtractingReportingOverflow(disconnectedAtMs)
            return !overflow && elapsed >= Int64(expirySeconds) * 1000
        }
    }

    public enum Opened: Sendable, Equatable {
        /// A durable session was stored for the id (session present, §3.2.2.2).
        case resumed(Session)
        /// A new, empty session.
        case new
        /// `maxSessions` sessions exist already.
        case full
    }

    public static let defaultMaxSessions = 100_000

    public let maxSessions: Int
    let executor: SQLiteExecutor?
    let nowMs: @Sendable () -> Int64
    let sessions: Mutex<[String: Session]>
    let logger: Logger
    /// Changes of kept sessions run one at a time, so the records in a replicated group's log come
    /// in the order the sessions changed (and a follower's replay does not interleave with them).
    let writes = MQTTWriteQueue()
    /// Set in a replicated group (`MQTTSessionStore+Replication`).
    let replication = Mutex<MQTTSessionReplicationState?>(nil)

    private init(
        executor: SQLiteExecutor?, sessions: [String: Session], maxSessions: Int, nowMs: @escaping @Sendable () -> Int64,
        logger: Logger = Logger(label: "sluice.mqtt.sessions")
    ) {
        self.executor = executor
        self.logger = logger
        self.maxSessions = max(1, maxSessions)
        self.nowMs = nowMs
        self.sessions = Mutex(sessions)
    }

    /// Sessions kept only in memory (tests).
    public static func inMemory(maxSessions: Int = defaultMaxSessions) -> MQTTSessionStore {
        MQTTSessionStore(executor: nil, sessions: [:], maxSessions: maxSessions, nowMs: { WallClock.nowMs() })
    }

    /// Opens the tables in the (migrated) database at `path` and loads every durable session.
    /// - Throws: `.storageUnavailable` when they cannot be opened or read.
    public static func open(
        path: String, maxSessions: Int = defaultMaxSessions,
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.mqtt.sessions"), sharing: SQLiteExecutor? = nil
    ) async throws(BrokerError) -> MQTTSessionStore {
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-mqtt", metricsLabel: "mqtt_sessions"),
                logger: logger, sharing: sharing)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the MQTT session tables in \(path): \(error)", cause: error)
        }
        var sessions: [String: Session] = [:]
        do {
            let rows = try await executor.read { connection in
                try connection.query("SELECT client_id, expiry_seconds, disconnected_at_ms FROM mqtt_sessions") { row in
                    (row.string(at: 0), row.isNull(at: 1) ? nil : UInt32(clamping: row.int64(at: 1)),
                     row.isNull(at: 2) ? nil : row.int64(at: 2))
                }
            }
            let filters = try await executor.read { connection in
                try connection.query("SELECT client_id, filter, options, identifier FROM mqtt_session_subscriptions") { row in
                    (row.string(at: 0), row.string(at: 1), UInt8(clamping: row.int64(at: 2)),
                     row.isNull(at: 3) ? nil : Int(clamping: row.int64(at: 3)))
                }
            }
            let flows = try await executor.read { connection in
                try connection.query("SELECT client_id, direction, packet_id, origin, released FROM mqtt_session_qos2") {
                    row in
                    (row.string(at: 0), row.string(at: 1), UInt16(clamping: row.int64(at: 2)), row.string(at: 3),
                     row.int64(at: 4) != 0)
                }
            }
            let loadedAt = nowMs()
            for (id, expiry, disconnectedAt) in rows {
                var session = Session(durable: true, expirySeconds: expiry)
                // A session with an expiry that was connected when the broker stopped: its
                // connection ended now, as far as anyone can tell.
                if expiry != nil { session.disconnectedAtMs = disconnectedAt ?? loadedAt }
                sessions[id] = session
            }
            for (id, filter, options, identifier) in filters {
                sessions[id]?.filters[filter] = options
                sessions[id]?.identifiers[filter] = identifier
            }
            for (id, direction, packetId, origin, released) in flows {
                if direction == "in" {
                    sessions[id]?.inbound.insert(packetId)
                } else {
                    sessions[id]?.outbound[packetId] = Outbound(origin: origin, released: released)
                }
            }
        } catch {
            try? await executor.close()
            throw BrokerError(.storageUnavailable, "cannot read the MQTT session tables in \(path): \(error)", cause: error)
        }
        logger.debug("MQTT sessions loaded", metadata: ["mqtt.sessions": "\(sessions.count)"])
        return MQTTSessionStore(executor: executor, sessions: sessions, maxSessions: maxSessions, nowMs: nowMs, logger: logger)
    }

    public func close() async {
        try? await executor?.close()
    }

    /// Sessions held (durable and clean).
    public var count: Int { sessions.withLock { $0.count } }

    /// The session of `clientId`, if any.
    public func session(_ clientId: String) -> Session? { sessions.withLock { $0[clientId] } }

    /// Where a message is in Sluice, as an outbound QoS 2 row names it.
    public static func origin(group: String, topic: String, queueId: Int32, queueOffset: Int64) -> String {
        "\(group)|\(topic)|\(queueId)|\(queueOffset)"
    }

    /// Opens the session of a connection: `durable` (clean session 0) resumes a stored durable
    /// session or stores a new one; a clean session discards whatever was stored and starts an
    /// empty one in memory.
    /// - Throws: `.storageFailure` when the write fails.
    public func open(_ clientId: String, durable: Bool) async throws(BrokerError) -> Opened {
        try await open(clientId, cleanStart: !durable, expirySeconds: durable ? nil : 0)
    }

    /// Opens the session of an MQTT 5 connection (§3.1.2.4, §3.1.2.11.2): without `cleanStart` a
    /// stored kept session resumes (unless it has expired); otherwise it is discarded. The
    /// session is kept when `expirySeconds` is above 0 (nil: never expires), and then its expiry
    /// is stored with it. The caller ends an expired session (`expired`) before opening.
    /// - Throws: `.storageFailure` when the write fails.
    public func open(_ clientId: String, cleanStart: Bool, expirySeconds: UInt32?) async throws(BrokerError) -> Opened {
        let durable = expirySeconds != 0
        return try await writes.run { @Sendable () async throws(BrokerError) -> Opened in
            try refuseOnFollower(clientId, keeps: durable)
            return try await openSerially(clientId, cleanStart: cleanStart, expirySeconds: expirySeconds)
        }
    }

    private func openSerially(_ clientId: String, cleanStart: Bool, expirySeconds: UInt32?) async throws(BrokerError) -> Opened {
        enum Step { case resumed(Session), full, write(dropStored: Bool) }
        let durable = expirySeconds != 0
        let now = nowMs()
        let step: Step = sessions.withLock { sessions in
            let old = sessions[clientId]
            if !cleanStart, var old, old.durable, !old.hasExpired(nowMs: now) {
                old.disconnectedAtMs = nil
                old.expirySeconds = expirySeconds
                old.durable = durable
                sessions[clientId] = old
                return .resumed(old)
            }
            if old == nil, sessions.count >= maxSessions { return .full }
            sessions[clientId] = Session(durable: durable, expirySeconds: expirySeconds)
            return .write(dropStored: old?.durable == true)
        }
        let expiry: SQLiteValue = expirySeconds.map { .integer(Int64($0)) } ?? .null
        switch step {
        case .resumed(let session):
            // The expiry may differ from the stored one; a session no longer kept leaves the disk.
            try await recordChange(of: clientId, if: true)
            try await write("update the MQTT session of \(clientId.prefix(64))", if: true) { connection in
                if durable {
                    try connection.run(
                        "UPDATE mqtt_sessions SET expiry_seconds = ?, disconnected_at_ms = NULL WHERE client_id = ?",
                        [expiry, .text(clientId)])
                } else {
                    try connection.run("DELETE FROM mqtt_sessions WHERE client_id = ?", [.text(clientId)])
                }
            }
            return .resumed(session)
        case .full: return .full
        case .write(let dropStored):
            try await recordChange(of: clientId, if: durable || dropStored)
            try await write("store the MQTT session of \(clientId.prefix(64))", if: durable || dropStored) { connection in
                try connection.run("DELETE FROM mqtt_sessions WHERE client_id = ?", [.text(clientId)])
                if durable {
                    try connection.run(
                        "INSERT INTO mqtt_sessions (client_id, created_at_ms, expiry_seconds) VALUES (?, ?, ?)",
                        [.text(clientId), .integer(now), expiry])
                }
            }
            return .new
        }
    }

    /// A kept session's connection ended: with an expiry interval, the session now counts down
    /// (`expirySeconds` replaces the CONNECT's when the DISCONNECT named one).
    /// - Throws: `.storageFailure` when the write fails.
    public func disconnected(_ clientId: String, expirySeconds: UInt32?) async throws(BrokerError) {
        try await writes.run { @Sendable () async throws(BrokerError) in
            try refuseOnFollower(clientId)
            try await disconnectedSerially(clientId, expirySeconds: expirySeconds)
        }
    }

    private func disconnectedSerially(_ clientId: String, expirySeconds: UInt32?) async throws(BrokerError) {
        let now = nowMs()
        let durable = change(clientId) { session in
            session.expirySeconds = expirySeconds
            session.disconnectedAtMs = expirySeconds == nil ? nil : now
            return true
        }
        let expiry: SQLiteValue = expirySeconds.map { .integer(Int64($0)) } ?? .null
        let at: SQLiteValue = expirySeconds == nil ? .null : .integer(now)
        try await recordChange(of: clientId, if: durable)
        try await write("mark the MQTT session of \(clientId.prefix(64)) disconnected", if: durable) { connection in
            try connection.run(
                "UPDATE mqtt_sessions SET expiry_seconds = ?, disconnected_at_ms = ? WHERE client_id = ?",
                [expiry, at, .text(clientId)])
        }
    }

    /// The ids of disconnected sessions whose expiry interval has passed, at most `limit`.
    public func expired(limit: Int = 256) -> [String] {
        // A follower ends none: the leader does, and its record removes the session here.
        if replication.withLock({ $0?.journal.log.refusesLocalAppends }) == true { return [] }
        let now = nowMs()
        return sessions.withLock { sessions in
            var ids: [String] = []
            for (id, session) in sessions where session.hasExpired(nowMs: now) {
                ids.append(id)
                if ids.count >= limit { break }
            }
            return ids
        }
    }

    /// Forgets a session (a clean one at the end of its connection).
    /// - Throws: `.storageFailure` when the write fails.
    public func discard(_ clientId: String) async throws(BrokerError) {
        try await writes.run { @Sendable () async throws(BrokerError) in
            try refuseOnFollower(clientId)
            try await discardSerially(clientId)
        }
    }

    private func discardSerially(_ clientId: String) async throws(BrokerError) {
        let old = sessions.withLock { $0.removeValue(forKey: clientId) }
        try await recordChange(of: clientId, if: old?.durable == true)
        try await write("discard the MQTT session of \(clientId.prefix(64))", if: old?.durable == true) { connection in
            try connection.run("DELETE FROM mqtt_sessions WHERE client_id = ?", [.text(clientId)])
        }
    }

    /// An MQTT 3.1.1 subscription: its options are its QoS.
    public func subscribed(_ clientId: String, filter: String, qos: UInt8) async throws(BrokerError) {
        try await subscribed(clientId, filter: filter, options: qos)
    }

    /// A subscription with its MQTT 5 options byte (QoS in the low two bits) and subscription
    /// identifier (1 to 268,435,455; nil for none).
    public func subscribed(_ clientId: String, filter: String, options: UInt8, identifier: Int? = nil)
        async throws(BrokerError)
    {
        try await writes.run { @Sendable () async throws(BrokerError) in
            try refuseOnFollower(clientId)
            try await subscribedSerially(clientId, filter: filter, options: options, identifier: identifier)
        }
    }

    private func subscribedSerially(_ clientId: String, filter: String, options: UInt8, identifier: Int?)
        async throws(BrokerError)
    {
        let options = options & 0x3F
        let identifier = identifier.flatMap { (1...268_435_455).contains($0) ? $0 : nil }
        let durable = change(clientId) { session in
            guard session.filters[filter] != options || session.identifiers[filter] != identifier else { return false }
            session.filters[filter] = options
            session.identifiers[filter] = identifier
            return true
        }
        let stored: SQLiteValue = identifier.map { .integer(Int64($0)) } ?? .null
        try await recordChange(of: clientId, if: durable)
        try await write("store an MQTT subscription", if: durable) { connection in
            try connection.run(
                "INSERT OR REPLACE INTO mqtt_session_subscriptions (client_id, filter, qos, options, identifier) "
                    + "VALUES (?, ?, ?, ?, ?)",
                [.text(clientId), .text(filter), .integer(Int64(options & 0b11)), .integer(Int64(options)), stored])
        }
    }

    public func unsubscribed(_ clientId: String, filter: String) async throws(BrokerError) {
        try await writes.run { @Sendable () async throws(BrokerError) in
            try refuseOnFollower(clientId)
            try await unsubscribedSerially(clientId, filter: filter)
        }
    }

    private func unsubscribedSerially(_ clientId: String, filter: String) async throws(BrokerError) {
        let durable = change(clientId) { session in
            session.identifiers[filter] = nil
            return session.filters.removeValue(forKey: filter) != nil
        }
        try await recordChange(of: clientId, if: durable)
        try await write("delete an MQTT subscription", if: durable) { connection in
            try connection.run(
                "DELETE FROM mqtt_session_subscriptions WHERE client_id = ? AND filter = ?", [.text(clientId), .text(filter)])
        }
    }

    /// Whether a QoS 2 PUBLISH with `packetId` from the client was stored and awaits PUBREL.
    public func hasInbound(_ clientId: String, packetId: UInt16) -> Bool {
        sessions.withLock { $0[clientId]?.inbound.contains(packetId) ?? false }
    }

    /// QoS 2 PUBLISH packet ids from the client awaiting PUBREL.
    public func inboundCount(_ clientId: String) -> Int { sessions.withLock { $0[clientId]?.inbound.count ?? 0 } }

    /// A QoS 2 PUBLISH from the client was stored: a re-sent one with `packetId` is not stored again.
    public func received(_ clientId: String, packetId: UInt16) async throws(BrokerError) {
        try await changeQoS2(clientId, "store an MQTT QoS 2 packet id", { $0.inbound.insert(packetId).inserted }) { connection in
            try connection.run(
                "INSERT OR REPLACE INTO mqtt_session_qos2 (client_id, direction, packet_id) VALUES (?, 'in', ?)",
                [.text(clientId), .integer(Int64(packetId))])
        }
    }

    /// PUBREL came for `packetId`: the id may carry a new message.
    public func released(_ clientId: String, packetId: UInt16) async throws(BrokerError) {
        try await changeQoS2(clientId, "delete an MQTT QoS 2 packet id", { $0.inbound.remove(packetId) != nil }) { connection in
            try connection.run(
                "DELETE FROM mqtt_session_qos2 WHERE client_id = ? AND direction = 'in' AND packet_id = ?",
                [.text(clientId), .integer(Int64(packetId))])
        }
    }

    /// A QoS 2 delivery of the message at `origin` goes out with `packetId` (before it is sent).
    public func sending(_ clientId: String, packetId: UInt16, origin: String) async throws(BrokerError) {
        let change: @Sendable (inout Session) -> Bool = { session in
            session.outbound[packetId] = Outbound(origin: origin, released: false)
            return true
        }
        try await changeQoS2(clientId, "store an MQTT QoS 2 delivery", change) { connection in
            try connection.run(
                "INSERT OR REPLACE INTO mqtt_session_qos2 (client_id, direction, packet_id, origin, released) "
                    + "VALUES (?, 'out', ?, ?, 0)",
                [.text(clientId), .integer(Int64(packetId)), .text(origin)])
        }
    }

    /// PUBREC came for the delivery `packetId` (before its message is acknowledged in Sluice).
    public func receivedByClient(_ clientId: String, packetId: UInt16) async throws(BrokerError) {
        let change: @Sendable (inout Session) -> Bool = { session in
            guard session.outbound[packetId]?.released == false else { return false }
            session.outbound[packetId]?.released = true
            return true
        }
        try await changeQoS2(clientId, "mark an MQTT QoS 2 delivery received", change) { connection in
            try connection.run(
                "UPDATE mqtt_session_qos2 SET released = 1 WHERE client_id = ? AND direction = 'out' AND packet_id = ?",
                [.text(clientId), .integer(Int64(packetId))])
        }
    }

    /// PUBCOMP came for the delivery `packetId`: the id is free again.
    public func completed(_ clientId: String, packetId: UInt16) async throws(BrokerError) {
        let change: @Sendable (inout Session) -> Bool = { $0.outbound.removeValue(forKey: packetId) != nil }
        try await changeQoS2(clientId, "delete an MQTT QoS 2 delivery", change) { connection in
            try connection.run(
                "DELETE FROM mqtt_session_qos2 WHERE client_id = ? AND direction = 'out' AND packet_id = ?",
                [.text(clientId), .integer(Int64(packetId))])
        }
    }

    /// A change of a session's QoS 2 packet ids. In a replicated group it runs one at a time with
    /// the other session changes and is recorded (the whole session afterwards) before its rows
    /// change, so a new leader knows the ids after a fail-over; alone, it is just written.
    private func changeQoS2(
        _ clientId: String, _ what: String, _ body: @escaping @Sendable (inout Session) -> Bool,
        rows: @escaping @Sendable (SQLiteConnection) throws -> Void
    ) async throws(BrokerError) {
        guard replication.withLock({ $0 != nil }) else {
            try await write(what, if: change(clientId, body), rows)
            return
        }
        try await writes.run { @Sendable () async throws(BrokerError) in
            try refuseOnFollower(clientId)
            let durable = change(clientId, body)
            try await recordChange(of: clientId, if: durable)
            try await write(what, if: durable, rows)
        }
    }

    /// Applies `body` to the session; true when it changed something of a durable session.
    private func change(_ clientId: String, _ body: (inout Session) -> Bool) -> Bool {
        sessions.withLock { sessions in
            guard var session = sessions[clientId] else { return false }
            let changed = body(&session)
            sessions[clientId] = session
            return changed && session.durable
        }
    }

    private func write(
        _ what: String, if needed: Bool, _ body: @escaping @Sendable (SQLiteConnection) throws -> Void
    ) async throws(BrokerError) {
        guard needed, let executor else { return }
        do {
            try await executor.write(body)
        } catch {
            throw BrokerError(.storageFailure, "cannot \(what): \(error)", cause: error)
        }
    }
}
