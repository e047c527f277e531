import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// How a `SyncLiteSubscription` request changes a group's lite subscriptions on a parent topic
/// (RocketMQ's `LiteSubscriptionAction`).
public enum LiteSubscriptionChange: Sendable, Equatable {
    /// Subscribe the listed lite topics (PARTIAL_ADD).
    case add
    /// Unsubscribe the listed lite topics (PARTIAL_REMOVE).
    case remove
    /// A client's periodic resync of everything it subscribed (COMPLETE_ADD). A group's set is
    /// shared by all its clients, so one client's list adds, and removes nothing another client
    /// may have subscribed.
    case resync
    /// Unsubscribe every lite topic of the group on the topic (COMPLETE_REMOVE).
    case removeAll
}

/// The consumer groups' lite topic subscriptions: one SQLite row per (group, parent topic, lite
/// topic) in `lite_subscriptions` (migration 0009), mirrored in memory so a receive never waits
/// for SQLite. A lite topic itself costs nothing here: it exists only as a name in its messages.
///
/// Bounded: at most `quotaPerGroup` lite topics per group and parent topic, and `maxTotal` in all
/// (every row is client-grown state held in memory).
///
/// Thread-safe: the snapshot is behind a mutex; writes go through the executor one at a time, and
/// the snapshot changes only after their commit.
public final class LiteSubscriptions: Sendable {
    public struct Key: Hashable, Sendable {
        public let group: String
        public let topic: String
        public init(group: String, topic: String) {
            self.group = group
            self.topic = topic
        }
    }

    /// RocketMQ 5.4's default per-client quota is 2000 as well.
    public static let defaultQuotaPerGroup = 2000
    public static let defaultMaxTotal = 1_000_000

    public let quotaPerGroup: Int
    public let maxTotal: Int
    let executor: SQLiteExecutor?
    private let nowMs: @Sendable () -> Int64
    let logger: Logger
    struct Snapshot {
        var sets: [Key: Set<String>] = [:]
        var total = 0
    }
    let snapshot: Mutex<Snapshot>
    /// Serializes changes so the quota check and the write see the same counts (and, in a
    /// replicated group, so the log's order is the table's).
    let writes = WriteQueue()
    /// Non-nil in a replicated group (`replicate(through:)`).
    let replication = Mutex<LiteReplicationState?>(nil)

    private init(
        executor: SQLiteExecutor?, sets: [Key: Set<String>], quotaPerGroup: Int, maxTotal: Int,
        nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.executor = executor
        self.quotaPerGroup = quotaPerGroup
        self.maxTotal = maxTotal
        self.nowMs = nowMs
        self.logger = logger
        snapshot = Mutex(Snapshot(sets: sets, total: sets.values.reduce(0) { $0 + $1.count }))
    }

    /// Subscriptions kept only in memory (tests and benchmarks of the delivery path).
    public static func inMemory(
        quotaPerGroup: Int = defaultQuotaPerGroup, maxTotal: Int = defaultMaxTotal
    ) -> LiteSubscriptions {
        LiteSubscriptions(
            executor: nil, sets: [:], quotaPerGroup: quotaPerGroup, maxTotal: maxTotal, nowMs: { WallClock.nowMs() },
            logger: Logger(label: "sluice.lite"))
    }

    /// Opens the table in the (migrated) database at `path` and loads every row.
    ///
    /// - Throws: `BrokerError` `.storageUnavailable` when it cannot be opened or read.
    public static func open(
        path: String, quotaPerGroup: Int = defaultQuotaPerGroup, maxTotal: Int = defaultMaxTotal,
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.lite"), sharing: SQLiteExecutor? = nil
    ) async throws(BrokerError) -> LiteSubscriptions {
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-lite", metricsLabel: "lite"),
                logger: logger, sharing: sharing)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the lite subscription table in \(path): \(error)", cause: error)
        }
        let rows: [(Key, String)]
        do {
            rows = try await executor.read { connection in
                try connection.query("SELECT group_name, topic, lite_topic FROM lite_subscriptions") { row in
                    (Key(group: row.string(at: 0), topic: row.string(at: 1)), row.string(at: 2))
                }
            }
        } catch {
            try? await executor.close()
            throw BrokerError(.storageUnavailable, "cannot read the lite subscription table in \(path): \(error)", cause: error)
        }
        var sets: [Key: Set<String>] = [:]
        for (key, liteTopic) in rows { sets[key, default: []].insert(liteTopic) }
        logger.debug("lite subscriptions loaded", metadata: ["lite.count": "\(rows.count)"])
        return LiteSubscriptions(
            executor: executor, sets: sets, quotaPerGroup: quotaPerGroup, maxTotal: maxTotal, nowMs: nowMs,
            logger: logger)
    }

    public func close() async {
        try? await executor?.close()
    }

    /// The lite topics `group` subscribed on `topic` (empty when none).
    public func liteTopics(group: String, topic: String) -> Set<String> {
        snapshot.withLock { $0.sets[Key(group: group, topic: topic)] ?? [] }
    }

    /// Subscriptions held, in all.
    public var count: Int { snapshot.withLock { $0.total } }

    /// Applies a change and returns the lite topics `group` subscribes on `topic` afterwards.
    /// Names are checked by the caller (the wire edge); the table's CHECK enforces them too.
    ///
    /// In a replicated group the change is first a record in the log (`LiteChangeJournal`).
    ///
    /// - Throws: `BrokerError` `.limitExceeded` when the group's quota or the broker's total
    ///   would be exceeded (nothing changes then), `.notLeader` on a follower of a replicated
    ///   group, `.storageFailure` when the write fails.
    @discardableResult
    public func apply(
        _ change: LiteSubscriptionChange, group: String, topic: String, liteTopics: Set<String>
    ) async throws(BrokerError) -> Set<String> {
        try await writes.run { @Sendable () async throws(BrokerError) -> Set<String> in
            let key = Key(group: group, topic: topic)
            let (current, total) = snapshot.withLock { ($0.sets[key] ?? [], $0.total) }
            let added: Set<String>, removed: Set<String>
            switch change {
            case .add, .resync:
                added = liteTopics.subtracting(current)
                removed = []
            case .remove:
                added = []
                removed = liteTopics.intersection(current)
            case .removeAll:
                added = []
                removed = current
            }
            if added.isEmpty, removed.isEmpty { return current }
            let after = current.union(added).subtracting(removed)
            if after.count > quotaPerGroup {
                throw BrokerError(
                    .limitExceeded,
                    "group \(group) would subscribe \(after.count) lite topics of \(topic); the quota is \(quotaPerGroup)")
            }
            if !added.isEmpty, total - removed.count + added.count > maxTotal {
                throw BrokerError(
                    .limitExceeded, "the broker holds \(total) lite subscriptions; the limit is \(maxTotal)")
            }
            if let journal = replication.withLock({ $0?.journal }) {
                try await journal.record(LiteSubscriptionDelta(group: group, topic: topic, added: added, removed: removed))
            }
            try await store(key, added: added, removed: removed)
            logger.debug(
                "lite subscriptions changed",
                metadata: ["group": "\(group)", "topic": "\(topic)", "added": "\(added.count)", "removed": "\(removed.count)"])
            return after
        }
    }
}

extension LiteSubscriptions {
    /// Writes the rows `added` and deletes the rows `removed` of `key`, then the snapshot follows.
    /// Call inside `writes`.
    /// - Throws: `.storageFailure`.
    func store(_ key: Key, added: Set<String>, removed: Set<String>) async throws(BrokerError) {
        if let executor {
            let at = nowMs()
            do {
                try await executor.write { connection in
                    for name in removed {
                        try connection.run(
                            "DELETE FROM lite_subscriptions WHERE group_name = ? AND topic = ? AND lite_topic = ?",
                            [.text(key.group), .text(key.topic), .text(name)])
                    }
                    for name in added {
                        try connection.run(
                            "INSERT OR IGNORE INTO lite_subscriptions (group_name, topic, lite_topic, created_at_ms) VALUES (?, ?, ?, ?)",
                            [.text(key.group), .text(key.topic), .text(name), .integer(at)])
                    }
                }
            } catch {
                throw BrokerError(.storageFailure, "cannot store the lite subscriptions of group \(key.group): \(error)", cause: error)
            }
        }
        snapshot.withLock { state in
            let before = state.sets[key] ?? []
            let after = before.union(added).subtracting(removed)
            state.sets[key] = after.isEmpty ? nil : after
            state.total += after.count - before.count
        }
    }
}

/// Runs async bodies one at a time, in arrival order.
actor WriteQueue {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws(BrokerError) -> T) async throws(BrokerError) -> T {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
