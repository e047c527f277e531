import Foundation
import SluiceStorage
import SluiceTransactions

/// The `transactions` table driven directly through a `SQLiteExecutor`, with the statements the
/// store itself runs: SQLite's own rate on the same schema, and fast filling of large backlogs.
enum TransactionTable {
    /// `TransactionStateStore.recordPrepared`'s insert.
    static let insertPrepared = """
        INSERT INTO transactions (
            transaction_id, message_id, topic, producer_group, client_id, keys, tags,
            commit_log_offset, commit_log_size, created_at_ms, state, next_check_at_ms, first_check_delay_ms
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'prepared', ?, ?)
        ON CONFLICT (client_id, topic, message_id) DO NOTHING
        """

    /// `TransactionStateStore.resolve`'s update (the store reads the row's state first).
    static let resolve = """
        UPDATE transactions
        SET state = ?, next_check_at_ms = NULL, check_outstanding = 0, resolved_at_ms = ?,
            resolution_source = ?, resolved_by = ?, resolution_reason = ?
        WHERE transaction_id = ?
        """

    /// Bindings for `insertPrepared`, the columns the store sets.
    static func preparedRow(
        transactionId: String, messageId: String, clientId: String, keys: String, commitLogOffset: Int64,
        createdAtMs: Int64, nextCheckAtMs: Int64
    ) -> [SQLiteValue] {
        [
            .text(transactionId), .text(messageId), .text("bench"), .text("bench-group"), .text(clientId),
            .text(keys), .text("t"), .integer(commitLogOffset), .integer(1_300), .integer(createdAtMs),
            .integer(nextCheckAtMs), .null,
        ]
    }

    /// A fresh executor with the store's configuration (or another synchronous mode) on `path`,
    /// migrated with the embedded migrations.
    static func openMigrated(path: String, synchronous: SQLiteSynchronousMode? = nil) async throws -> SQLiteExecutor {
        var configuration = TransactionStoreConfiguration().executor
        if let synchronous { configuration.connection.synchronous = synchronous }
        configuration.threadName = "bench-sqlite"
        let executor = try await SQLiteExecutor.open(path: path, configuration: configuration)
        let migrator = Migrator(migrations: Migration.embedded)
        let now = WallClock.nowMs()
        do {
            _ = try await executor.exclusive { connection in try migrator.migrate(connection, appliedAtMs: now) }
        } catch {
            try? await executor.close()
            throw error
        }
        return executor
    }

    struct FillReport {
        var seconds: Double
        var databaseMiB: Double
    }

    /// Puts `rows` prepared rows into the database at `path` (created and migrated if new), in
    /// writes of `rowsPerWrite` rows, then closes it. Row `i` was created `rows - i` ms before a
    /// minute ago and is next checked at `firstNextCheckAtMs + i`. They have no log records.
    static func fill(path: String, rows: Int, rowsPerWrite: Int, firstNextCheckAtMs: Int64) async throws -> FillReport {
        let started = ContinuousClock.now
        let executor = try await openMigrated(path: path)
        let transactionPrefix = randomHex()
        let messagePrefix = randomHex()
        let createdBaseMs = WallClock.nowMs() - 60_000 - Int64(rows)
        var start = 0
        do {
            while start < rows {
                let range = start..<min(rows, start + max(1, rowsPerWrite))
                try await executor.write { connection in
                    for index in range {
                        let values = preparedRow(
                            transactionId: transactionPrefix + hex(UInt64(index)),
                            messageId: messagePrefix + hex(UInt64(index)), clientId: "pending-client-\(index % 1_000)",
                            keys: "pending-\(index)", commitLogOffset: Int64(index) * 1_300,
                            createdAtMs: createdBaseMs + Int64(index), nextCheckAtMs: firstNextCheckAtMs + Int64(index))
                        guard try connection.run(insertPrepared, values) == 1 else {
                            throw BenchmarkFailure("pending row \(index) was not inserted")
                        }
                    }
                }
                start = range.upperBound
            }
        } catch {
            try? await executor.close()
            throw error
        }
        try await executor.close()
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return FillReport(seconds: microseconds(since: started) / 1e6, databaseMiB: Double(size) / 1_048_576)
    }

    static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex(generator.next() as UInt64)
    }

    /// 16 uppercase hex digits; two of them make an id shaped like the broker's (32 digits).
    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension TransactionWorkload {
    /// SQLite's own batched rate on the same schema: `workers` loops, each doing one write that
    /// inserts a prepared row and one write that marks it committed, through a fresh executor
    /// whose group commit batches the concurrent writes as it does for the store.
    func sqliteInsertUpdate(workers: Int, synchronous: SQLiteSynchronousMode) async throws -> TransactionCaseResult {
        let folder = "\(directory)/sqlite-x\(workers)"
        CasePeakMemory.reset()
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var roles: [Int: String] = [:]
        let executor = try await ThreadCPUSnapshot.labelling("sqlite", into: &roles) {
            try await TransactionTable.openMigrated(path: folder + "/baseline.sqlite", synchronous: synchronous)
        }
        let transactionPrefix = TransactionTable.randomHex()
        let messagePrefix = TransactionTable.randomHex()
        let transactionsBefore = executor.committedTransactionCount
        let writesBefore = executor.committedWriteCount
        let measured: LoopMeasurement
        do {
            measured = try await measureLoops(workers: workers, roles: roles) { worker, sequence in
                let number = UInt64(worker) << 40 | UInt64(sequence)
                let transactionId = transactionPrefix + TransactionTable.hex(number)
                let clientId = "bench-client-\(worker)"
                let row = TransactionTable.preparedRow(
                    transactionId: transactionId, messageId: messagePrefix + TransactionTable.hex(number),
                    clientId: clientId, keys: "k\(worker)-\(sequence)", commitLogOffset: Int64(number) * 1_300,
                    createdAtMs: WallClock.nowMs(), nextCheckAtMs: WallClock.nowMs() + 6_000)
                let inserted = try await executor.write { connection in
                    try connection.run(TransactionTable.insertPrepared, row)
                }
                let resolved: [SQLiteValue] = [
                    .text("committed"), .integer(WallClock.nowMs()), .text("producer"), .text(clientId), .null,
                    .text(transactionId),
                ]
                let updated = try await executor.write { connection in
                    try connection.run(TransactionTable.resolve, resolved)
                }
                guard inserted == 1, updated == 1 else {
                    throw BenchmarkFailure("row \(transactionId): inserted \(inserted), updated \(updated)")
                }
            }
        } catch {
            try? await executor.close()
            throw error
        }
        let sqlTransactions = max(1, executor.committedTransactionCount - transactionsBefore)
        let writes = executor.committedWriteCount - writesBefore
        try await executor.close()
        return measured.result(writesPerSQLiteTransaction: Double(writes) / Double(sqlTransactions))
    }

    /// The store alone, called as the coordinator calls it for one transaction (recordPrepared,
    /// transaction(id:), resolve) but with no commit log: separates the store's share of the gap
    /// to SQLite's rate from the log's.
    func storeOnly(workers: Int) async throws -> TransactionCaseResult {
        let folder = "\(directory)/store-x\(workers)"
        CasePeakMemory.reset()
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var roles: [Int: String] = [:]
        let store = try await ThreadCPUSnapshot.labelling("sqlite", into: &roles) {
            try await TransactionStateStore.open(
                path: folder + "/transactions.sqlite", now: WallClock.nowMs(), logger: logger)
        }
        let transactionPrefix = TransactionTable.randomHex()
        let messagePrefix = TransactionTable.randomHex()
        let transactionsBefore = store.committedTransactionCount
        let measured: LoopMeasurement
        do {
            measured = try await measureLoops(workers: workers, roles: roles) { worker, sequence in
                let number = UInt64(worker) << 40 | UInt64(sequence)
                let transactionId = transactionPrefix + TransactionTable.hex(number)
                let clientId = "bench-client-\(worker)"
                let prepared = PreparedTransaction(
                    transactionId: transactionId, messageId: messagePrefix + TransactionTable.hex(number),
                    topic: "bench", producerGroup: "bench-group", clientId: clientId, keys: "k\(worker)-\(sequence)",
                    tags: "t", commitLogOffset: Int64(number) * 1_300, commitLogSize: 1_300,
                    createdAtMs: WallClock.nowMs())
                guard try await store.recordPrepared(prepared) == .inserted(transactionId: transactionId),
                    try await store.transaction(id: transactionId)?.state == .prepared
                else { throw BenchmarkFailure("transaction \(transactionId) was not recorded as prepared") }
                let resolved = try await store.resolve(
                    transactionId: transactionId, resolution: .commit, source: .producer, actor: clientId,
                    at: WallClock.nowMs())
                guard resolved == .applied(from: .prepared, to: .committed) else {
                    throw BenchmarkFailure("transaction \(transactionId): \(resolved)")
                }
            }
        } catch {
            try? await store.close()
            throw error
        }
        let sqlTransactions = max(1, store.committedTransactionCount - transactionsBefore)
        try await store.close()
        // recordPrepared and resolve: two writes per transaction.
        return measured.result(
            writesPerSQLiteTransaction: Double(2 * measured.tally.transactions) / Double(sqlTransactions))
    }
}
