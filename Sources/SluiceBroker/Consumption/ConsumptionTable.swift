import Crypto
import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

/// One unfinished message of a group, as the table keeps it (`consumer_pending`).
struct PendingRow: Sendable, Equatable {
    var group: String
    var topic: String
    var queueId: UInt32
    var queueOffset: UInt64
    var attempt: Int
    var deliveryToken: UInt64
    var invisibleUntilMs: Int64
    var deliverableAtMs: Int64
    var messageGroup: String?
    var clientId: String
    var autoRenew: Bool = false
}

/// A group's position in one queue (`consumer_cursors`).
struct CursorRow: Sendable, Equatable {
    var group: String
    var topic: String
    var queueId: UInt32
    var nextOffset: UInt64
}

/// A consumer group's consumer of one topic (a group–topic pair).
struct ConsumerPair: Sendable, Hashable, Comparable {
    var group: String
    var topic: String

    static func < (lhs: ConsumerPair, rhs: ConsumerPair) -> Bool { (lhs.group, lhs.topic) < (rhs.group, rhs.topic) }
}

/// What one receive, ack or sweep changed: written in one savepoint of a group-committed SQLite
/// transaction before the client hears the outcome.
struct ConsumptionChanges: Sendable {
    /// Cursors only move forward here (concurrent claims may commit in either order)...
    var cursors: [CursorRow] = []
    /// ...except when an operator or a pull consumer sets one.
    var resetCursors: [CursorRow] = []
    var pending: [PendingRow] = []
    var finished: [(group: String, topic: String, queueId: UInt32, queueOffset: UInt64)] = []
    /// Group–topic pairs whose cursors and unfinished messages are all removed (written first,
    /// so a pair rebuilt in the same batch keeps what is rebuilt).
    var droppedPairs: [ConsumerPair] = []

    var isEmpty: Bool {
        cursors.isEmpty && resetCursors.isEmpty && pending.isEmpty && finished.isEmpty && droppedPairs.isEmpty
    }
}

/// A queued write: `wait()` returns once it committed, or throws what failed.
final class PendingWrite: Sendable {
    private struct State {
        var done = false
        var error: BrokerError?
        var waiters: [CheckedContinuation<BrokerError?, Never>] = []
    }

    private let state = Mutex(State())

    func complete(_ error: BrokerError?) {
        let waiters = state.withLock { state -> [CheckedContinuation<BrokerError?, Never>] in
            state.done = true
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: error) }
    }

    func wait() async throws(BrokerError) {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<BrokerError?, Never>) in
            let finished = state.withLock { state -> (Bool, BrokerError?) in
                if state.done { return (true, state.error) }
                state.waiters.append(continuation)
                return (false, nil)
            }
            if finished.0 { continuation.resume(returning: finished.1) }
        }
        if let error { throw error }
    }
}

/// Everything the table holds, read once at start.
struct ConsumptionSnapshot: Sendable {
    var groups: [ConsumerGroup]
    var cursors: [CursorRow]
    var pending: [PendingRow]
    var signingKey: [UInt8]
    /// Commit-log positions of recalled DELAY messages still in the log.
    var recalled: Set<UInt64> = []
}

/// The consumer-group tables of `transactions.sqlite` (migration 0004) behind their own
/// `SQLiteExecutor`: one thread, writes group-committed.
final class ConsumptionTable: Sendable {
    private let executor: SQLiteExecutor
    private let logger: Logger

    private init(executor: SQLiteExecutor, logger: Logger) {
        self.executor = executor
        self.logger = logger
    }

    /// Opens the (already migrated) database.
    static func open(path: String, logger: Logger, sharing: SQLiteExecutor? = nil) async throws(BrokerError) -> ConsumptionTable {
        do {
            let executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-consumers", metricsLabel: "consumers"),
                logger: logger, sharing: sharing)
            return ConsumptionTable(executor: executor, logger: logger)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the consumer tables in \(path): \(error)", cause: error)
        }
    }

    func close() async {
        do {
            try await executor.close()
        } catch {
            logger.warning("cannot close the consumer tables", metadata: ["error": "\(error)"])
        }
    }

    /// Reads every group, cursor and pending row, the recalled messages (forgetting those below
    /// `logStart`, which retention removed) and the handle-signing key (made on first use).
    func load(logStart: UInt64 = 0) async throws(BrokerError) -> ConsumptionSnapshot {
        do {
            return try await executor.write { connection in
                try connection.run(
                    "DELETE FROM recalled_messages WHERE physical_offset < ?", [.integer(Int64(clamping: logStart))])
                let recalled = try connection.query("SELECT physical_offset FROM recalled_messages") {
                    UInt64($0.int64(at: 0))
                }
                let groups = try connection.query(
                    "SELECT name, fifo, max_delivery_attempts, retry_delays_ms, created_at_ms, consume_from FROM consumer_groups",
                    row: Self.group)
                let cursors = try connection.query(
                    "SELECT group_name, topic, queue_id, next_offset FROM consumer_cursors"
                ) { row in
                    CursorRow(
                        group: row.string(at: 0), topic: row.string(at: 1), queueId: UInt32(row.int64(at: 2)),
                        nextOffset: UInt64(row.int64(at: 3)))
                }
                let pending = try connection.query(
                    """
                    SELECT group_name, topic, queue_id, queue_offset, attempt, delivery_token, invisible_until_ms,
                           deliverable_at_ms, message_group, client_id, auto_renew
                    FROM consumer_pending ORDER BY group_name, topic, queue_id, queue_offset
                    """
                ) { row in
                    PendingRow(
                        group: row.string(at: 0), topic: row.string(at: 1), queueId: UInt32(row.int64(at: 2)),
                        queueOffset: UInt64(row.int64(at: 3)), attempt: Int(row.int64(at: 4)),
                        deliveryToken: UInt64(bitPattern: row.int64(at: 5)), invisibleUntilMs: row.int64(at: 6),
                        deliverableAtMs: row.int64(at: 7), messageGroup: row.optionalString(at: 8),
                        clientId: row.string(at: 9), autoRenew: row.int64(at: 10) != 0)
                }
                var key = try connection.queryFirst(
                    "SELECT value FROM broker_metadata WHERE name = 'receipt_handle_key'"
                ) { $0.blob(at: 0) }
                if key == nil {
                    let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
                    try connection.run(
                        "INSERT INTO broker_metadata (name, value) VALUES ('receipt_handle_key', ?)", [.blob(fresh)])
                    key = fresh
                }
                return ConsumptionSnapshot(
                    groups: groups, cursors: cursors, pending: pending, signingKey: key ?? [], recalled: Set(recalled))
            }
        } catch {
            throw BrokerError(.storageUnavailable, "cannot read the consumer tables: \(error)", cause: error)
        }
    }

    /// Inserts or replaces a group's settings.
    func save(_ group: ConsumerGroup) async throws(BrokerError) {
        do {
            _ = try await executor.write(synced: true) { connection in
                try connection.run(
                    """
                    INSERT INTO consumer_groups (name, fifo, max_delivery_attempts, retry_delays_ms, created_at_ms,
                        consume_from)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET fifo = excluded.fifo,
                        max_delivery_attempts = excluded.max_delivery_attempts, retry_delays_ms = excluded.retry_delays_ms,
                        consume_from = excluded.consume_from
                    """,
                    [
                        .text(group.name), .integer(group.fifo ? 1 : 0), .integer(Int64(group.maxDeliveryAttempts)),
                        .text(group.retryDelaysMs.map(String.init).joined(separator: ",")), .integer(group.createdAtMs),
                        .text(group.consumeFrom.storedText),
                    ])
            }
        } catch {
            throw BrokerError(.storageFailure, "cannot store consumer group \(group.name): \(error)", cause: error)
        }
    }

    /// Records a recalled DELAY message (synced: nothing in the log says it was recalled).
    func saveRecall(
        physicalOffset: UInt64, topic: String, messageId: String, deliveryMs: Int64, atMs: Int64
    ) -> PendingWrite {
        syncedWrite("store the recall") { connection in
            try connection.run(
                """
                INSERT OR IGNORE INTO recalled_messages (physical_offset, topic, message_id, delivery_at_ms, recalled_at_ms)
                VALUES (?, ?, ?, ?, ?)
                """,
                [.integer(Int64(physicalOffset)), .text(topic), .text(messageId), .integer(deliveryMs), .integer(atMs)])
        }
    }

    /// Forgets a recall (a cut log tail's, undone): synced, like the recall was.
    func deleteRecall(physicalOffset: UInt64) -> PendingWrite {
        syncedWrite("forget the recall") { connection in
            try connection.run(
                "DELETE FROM recalled_messages WHERE physical_offset = ?", [.integer(Int64(physicalOffset))])
        }
    }

    /// Replaces the receipt- and recall-handle key with the one a replicated group's leader uses.
    func saveSigningKey(_ key: [UInt8]) -> PendingWrite {
        syncedWrite("store the handle key") { connection in
            try connection.run(
                "INSERT OR REPLACE INTO broker_metadata (name, value) VALUES ('receipt_handle_key', ?)", [.blob(key)])
        }
    }

    /// A write queued with the others and on disk before its `PendingWrite` completes; a failure
    /// completes it with `.storageFailure`, saying what could not be done (`what`: "store the recall").
    private func syncedWrite(_ what: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> Void) -> PendingWrite {
        let pending = PendingWrite()
        executor.enqueueWrite(synced: true, body) { result in
            switch result {
            case .success: pending.complete(nil)
            case .failure(let error):
                pending.complete(BrokerError(.storageFailure, "cannot \(what): \(error)", cause: error))
            }
        }
        return pending
    }

    /// Removes a group with its cursors and pending messages.
    func delete(group name: String) async throws(BrokerError) {
        do {
            try await executor.write(synced: true) { connection in
                try connection.run("DELETE FROM consumer_pending WHERE group_name = ?", [.text(name)])
                try connection.run(
                    "DELETE FROM consumer_cursors WHERE group_name IN (?, ?)",
                    [.text(name), .text(ConsumptionEngine.redrivePrefix + name)])
                try connection.run("DELETE FROM consumer_groups WHERE name = ?", [.text(name)])
            }
        } catch {
            throw BrokerError(.storageFailure, "cannot delete consumer group \(name): \(error)", cause: error)
        }
    }

    /// Writes one batch of changes; returns once committed.
    func apply(_ changes: ConsumptionChanges) async throws(BrokerError) {
        try await enqueue(changes).wait()
    }

    /// Queues one batch of changes and returns at once; the returned write completes after the
    /// commit. Batches queued in order commit in order.
    func enqueue(_ changes: ConsumptionChanges) -> PendingWrite {
        let pending = PendingWrite()
        if changes.isEmpty {
            pending.complete(nil)
            return pending
        }
        // A cursor set by an operator or a pull consumer is metadata nothing rebuilds: sync it
        // (and a pair's removal with it).
        let synced = !changes.resetCursors.isEmpty || !changes.droppedPairs.isEmpty
        executor.enqueueWrite(synced: synced, { connection in try Self.write(changes, connection) }) { result in
            switch result {
            case .success: pending.complete(nil)
            case .failure(let error):
                pending.complete(BrokerError(.storageFailure, "cannot store consumer progress: \(error)", cause: error))
            }
        }
        return pending
    }

    private static func write(_ changes: ConsumptionChanges, _ connection: SQLiteConnection) throws {
        for pair in changes.droppedPairs {
            try connection.run(
                "DELETE FROM consumer_pending WHERE group_name = ? AND topic = ?", [.text(pair.group), .text(pair.topic)])
            try connection.run(
                "DELETE FROM consumer_cursors WHERE group_name = ? AND topic = ?", [.text(pair.group), .text(pair.topic)])
        }
        for cursor in changes.cursors {
            try connection.run(
                """
                INSERT INTO consumer_cursors (group_name, topic, queue_id, next_offset) VALUES (?, ?, ?, ?)
                ON CONFLICT (group_name, topic, queue_id) DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)
                """,
                [.text(cursor.group), .text(cursor.topic), .integer(Int64(cursor.queueId)),
                 .integer(Int64(cursor.nextOffset))])
        }
        for cursor in changes.resetCursors {
            try connection.run(
                "INSERT OR REPLACE INTO consumer_cursors (group_name, topic, queue_id, next_offset) VALUES (?, ?, ?, ?)",
                [.text(cursor.group), .text(cursor.topic), .integer(Int64(cursor.queueId)),
                 .integer(Int64(cursor.nextOffset))])
        }
        for row in changes.pending {
            try connection.run(
                """
                INSERT OR REPLACE INTO consumer_pending (group_name, topic, queue_id, queue_offset, attempt,
                    delivery_token, invisible_until_ms, deliverable_at_ms, message_group, client_id, auto_renew)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(row.group), .text(row.topic), .integer(Int64(row.queueId)),
                    .integer(Int64(row.queueOffset)), .integer(Int64(row.attempt)),
                    .integer(Int64(bitPattern: row.deliveryToken)), .integer(row.invisibleUntilMs),
                    .integer(row.deliverableAtMs), row.messageGroup.map { .text($0) } ?? .null,
                    .text(row.clientId), .integer(row.autoRenew ? 1 : 0),
                ])
        }
        for done in changes.finished {
            try connection.run(
                "DELETE FROM consumer_pending WHERE group_name = ? AND topic = ? AND queue_id = ? AND queue_offset = ?",
                [.text(done.group), .text(done.topic), .integer(Int64(done.queueId)),
                 .integer(Int64(done.queueOffset))])
        }
    }

    private static func group(_ row: SQLiteStatement) throws(SQLiteError) -> ConsumerGroup {
        let delays = row.string(at: 3).split(separator: ",").compactMap { Int64($0) }
        return ConsumerGroup(
            name: row.string(at: 0), fifo: row.int64(at: 1) != 0, maxDeliveryAttempts: Int(row.int64(at: 2)),
            retryDelaysMs: delays, createdAtMs: row.int64(at: 4),
            consumeFrom: ConsumeFrom(storedText: row.string(at: 5)) ?? .earliest)
    }
}
