import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// The topics table (`topics` in `transactions.sqlite`, migration 0003) behind an in-memory copy.
///
/// Every send looks its topic up, so `topic(named:)` and `list()` read only the copy, loaded at
/// open; creates and deletes write the table through the registry's own `SQLiteExecutor` (WAL
/// lets it share the file with the transaction store) and then update the copy.
///
/// The table must already exist: the transaction store applies the migrations when it opens, so
/// open this registry after it.
public final class SQLiteTopicRegistry: TopicRegistry {
    /// One name's latest known state. `sequence` orders writes: each write takes the next
    /// number on the executor thread, where writes run one at a time in commit order, so a write
    /// whose caller resumes late cannot overwrite a newer one's result.
    private struct Entry {
        var topic: TopicDefinition?
        var sequence: UInt64
    }

    private struct Cache {
        var entries: [String: Entry] = [:]
        var lastSequence: UInt64 = 0
    }

    let executor: SQLiteExecutor
    private let cache: Mutex<Cache>
    private let nowMs: @Sendable () -> Int64
    private let logger: Logger

    private init(
        executor: SQLiteExecutor, topics: [TopicDefinition], nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.executor = executor
        var cache = Cache()
        for topic in topics { cache.entries[topic.name] = Entry(topic: topic, sequence: 0) }
        self.cache = Mutex(cache)
        self.nowMs = nowMs
        self.logger = logger
    }

    /// Opens the database at `path` (already migrated) and loads every topic into memory.
    ///
    /// - Throws: `BrokerError` `.storageUnavailable` when the database cannot be opened or has no
    ///   `topics` table (not migrated).
    public static func open(
        path: String, nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.topics"), sharing: SQLiteExecutor? = nil
    ) async throws(BrokerError) -> SQLiteTopicRegistry {
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                // Topics are rare writes that nothing can rebuild (the log holds messages, not
                // definitions): every commit syncs the WAL, so an acknowledged topic survives a
                // power loss, not only a crash.
                configuration: SQLiteExecutorConfiguration(
                    connection: SQLiteConnectionOptions(synchronous: .full), threadName: "sluice-sqlite-topics",
                    metricsLabel: "topics"),
                logger: logger, sharing: sharing)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the topic table in \(path): \(error)", cause: error)
        }
        let topics: [TopicDefinition]
        do {
            topics = try await executor.read { connection in
                try connection.query(
                    "SELECT name, message_type, queue_count, created_at_ms FROM topics ORDER BY name",
                    row: Self.definition)
            }
        } catch {
            try? await executor.close()
            throw BrokerError(.storageUnavailable, "cannot read the topic table in \(path): \(error)", cause: error)
        }
        logger.debug("topics loaded", metadata: ["topics.count": "\(topics.count)", "db.path": "\(path)"])
        return SQLiteTopicRegistry(executor: executor, topics: topics, nowMs: nowMs, logger: logger)
    }

    /// Finishes queued writes and closes the database. Lookups keep answering from memory;
    /// creates and deletes then fail with `.storageFailure`.
    public func close() async {
        do {
            try await executor.close()
        } catch {
            logger.warning("cannot close the topic table", metadata: ["error": "\(error)"])
        }
    }

    public func topic(named name: String) async throws(BrokerError) -> TopicDefinition? {
        cache.withLock { $0.entries[name]?.topic }
    }

    public func list() async throws(BrokerError) -> [TopicDefinition] {
        cache.withLock { $0.entries.values.compactMap(\.topic) }.sorted { $0.name < $1.name }
    }

    public func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError)
        -> TopicDefinition
    {
        try TopicName.validate(name)
        try TopicDefinition.validateQueueCount(queueCount)
        // The usual repeat of an identical create needs no write.
        if let existing = try await topic(named: name) {
            return try Self.existing(existing, matching: type, queueCount: queueCount)
        }
        let wanted = TopicDefinition(name: name, messageType: type, queueCount: queueCount, createdAtMs: nowMs())
        let (stored, inserted, sequence) = try await write("create topic \(name)") {
            connection -> (TopicDefinition, Bool, UInt64) in
            let sequence = self.nextSequence()
            // A create that raced this one may have stored the name first; its row wins.
            if let row = try connection.queryFirst(
                "SELECT name, message_type, queue_count, created_at_ms FROM topics WHERE name = ?", [.text(name)],
                row: Self.definition)
            {
                return (row, false, sequence)
            }
            try connection.run(
                "INSERT INTO topics (name, message_type, queue_count, created_at_ms) VALUES (?, ?, ?, ?)",
                [.text(name), .text(type.rawValue), .integer(Int64(queueCount)), .integer(wanted.createdAtMs)])
            return (wanted, true, sequence)
        }
        apply(stored, to: name, sequence: sequence)
        if inserted {
            logger.info(
                "topic created",
                metadata: ["topic.name": "\(name)", "topic.type": "\(type)", "topic.queues": "\(queueCount)"])
            return stored
        }
        return try Self.existing(stored, matching: type, queueCount: queueCount)
    }

    public func delete(named name: String) async throws(BrokerError) -> Bool {
        let (deleted, sequence) = try await write("delete topic \(name)") { connection -> (Bool, UInt64) in
            let sequence = self.nextSequence()
            return (try connection.run("DELETE FROM topics WHERE name = ?", [.text(name)]) > 0, sequence)
        }
        apply(nil, to: name, sequence: sequence)
        if deleted { logger.info("topic deleted", metadata: ["topic.name": "\(name)"]) }
        return deleted
    }

    // MARK: helpers

    /// Runs on the executor thread, inside the write it numbers.
    private func nextSequence() -> UInt64 {
        cache.withLock {
            $0.lastSequence += 1
            return $0.lastSequence
        }
    }

    private func apply(_ topic: TopicDefinition?, to name: String, sequence: UInt64) {
        cache.withLock { cache in
            if let current = cache.entries[name], current.sequence > sequence { return }
            // A deleted name keeps a nil entry (a tombstone), so that a create whose caller
            // resumes after the delete's cannot bring the topic back.
            cache.entries[name] = Entry(topic: topic, sequence: sequence)
        }
    }

    /// `existing` when it matches the request, else `.topicExists` naming the difference.
    private static func existing(_ existing: TopicDefinition, matching type: TopicMessageType, queueCount: Int)
        throws(BrokerError) -> TopicDefinition
    {
        var differences: [String] = []
        if existing.messageType != type {
            differences.append("type \(existing.messageType), not \(type)")
        }
        if existing.queueCount != queueCount {
            differences.append("\(existing.queueCount) queues, not \(queueCount)")
        }
        guard differences.isEmpty else {
            throw BrokerError(
                .topicExists,
                "topic '\(existing.name)' already exists with \(differences.joined(separator: " and ")); "
                    + "delete it first to change it")
        }
        return existing
    }

    private static func definition(_ row: SQLiteStatement) throws(SQLiteError) -> TopicDefinition {
        let typeText = row.string(at: 1)
        guard let type = TopicMessageType(rawValue: typeText) else {
            // The CHECK constraint makes this unreachable unless the file was edited by hand.
            throw SQLiteError(code: .constraint, message: "topics.message_type holds unknown value '\(typeText)'")
        }
        return TopicDefinition(
            name: row.string(at: 0), messageType: type, queueCount: Int(row.int64(at: 2)),
            createdAtMs: row.int64(at: 3))
    }

    private func write<T: Sendable>(
        _ action: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(BrokerError) -> T {
        do {
            // Synced: topics are rare writes nothing can rebuild, also on a shared connection
            // opened with synchronous = NORMAL.
            return try await executor.write(synced: true, body)
        } catch {
            throw BrokerError(.storageFailure, "cannot \(action): \(error)", cause: error)
        }
    }
}
