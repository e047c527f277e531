import Logging

/// The SQLite-backed table of transactional (half) messages: where each body is in the commit
/// log, its state, its check schedule and history, and the operator audit trail.
///
/// All work runs on one `SQLiteExecutor` thread. Every mutation goes through the executor's
/// group-committing write path, so concurrent EndTransaction calls share SQLite transactions
/// (and, with `synchronous = FULL`, WAL syncs). The state machine (`TransactionStateMachine`)
/// decides every state change inside the write that applies it, so two racing resolutions of
/// one transaction cannot both win.
///
/// Times are milliseconds since the Unix epoch, passed in by the caller (`at:`, `now:`): the
/// store never reads a clock.
public final class TransactionStateStore: Sendable {
    let executor: SQLiteExecutor
    let configuration: TransactionStoreConfiguration
    let logger: Logger
    let machine = TransactionStateMachine()

    private init(executor: SQLiteExecutor, configuration: TransactionStoreConfiguration, logger: Logger) {
        self.executor = executor
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens (or creates) the database at `path` and applies pending migrations.
    ///
    /// - Parameter now: recorded as the time of any migration applied.
    /// - Throws: `TransactionStoreError` with `.schemaTooNew` when the database was written by a
    ///   newer Sluice, `.migrationFailed`, or `.storage` when SQLite cannot open it.
    public static func open(
        path: String,
        configuration: TransactionStoreConfiguration = TransactionStoreConfiguration(),
        now: Int64,
        logger: Logger = Logger(label: "sluice.transactions")
    ) async throws(TransactionStoreError) -> TransactionStateStore {
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(path: path, configuration: configuration.executor, logger: logger)
        } catch {
            throw TransactionStoreError(wrapping: error, while: "open \(path)")
        }
        let migrator = Migrator(migrations: configuration.migrations)
        do {
            let applied = try await executor.exclusive { connection in
                try migrator.migrate(connection, appliedAtMs: now)
            }
            if !applied.isEmpty {
                logger.info("applied migrations", metadata: ["db.migrations": "\(applied)", "db.path": "\(path)"])
            }
        } catch {
            try? await executor.close()
            throw TransactionStoreError(wrapping: error, while: "migrate \(path)")
        }
        return TransactionStateStore(executor: executor, configuration: configuration, logger: logger)
    }

    /// The store's connection for another store in the same file (`SQLiteExecutor.share()`):
    /// one writer per file, so their writes group-commit together.
    public func shareExecutor() -> SQLiteExecutor { executor.share() }

    /// Finishes queued work and closes the database (once every store sharing it has closed).
    /// Later calls fail with `.closed`.
    ///
    /// - Throws: `TransactionStoreError` with `.storage` when SQLite cannot close cleanly.
    public func close() async throws(TransactionStoreError) {
        do {
            try await executor.close()
        } catch {
            throw TransactionStoreError(wrapping: error, while: "close")
        }
    }

    /// SQLite write transactions committed since open; with group commit, usually fewer than
    /// the writes made.
    public var committedTransactionCount: Int {
        executor.committedTransactionCount
    }

    /// Runs `body` as a write and maps lower-layer errors to `TransactionStoreError`.
    func write<T: Sendable>(
        _ action: String, synced: Bool = false,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(TransactionStoreError) -> T {
        do {
            return try await executor.write(synced: synced, body)
        } catch {
            throw TransactionStoreError(wrapping: error, while: action)
        }
    }

    /// Runs `body` on the committed-state reader when the executor has one (counts, gauges,
    /// operator listings: they need what is committed, and must not hold up every store's
    /// writes on the shared connection while they scan).
    func readCommitted<T: Sendable>(
        _ action: String,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(TransactionStoreError) -> T {
        do {
            return try await executor.readCommitted(body)
        } catch {
            throw TransactionStoreError(wrapping: error, while: action)
        }
    }

    /// Runs `body` as a read and maps lower-layer errors to `TransactionStoreError`.
    func read<T: Sendable>(
        _ action: String,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(TransactionStoreError) -> T {
        do {
            return try await executor.read(body)
        } catch {
            throw TransactionStoreError(wrapping: error, while: action)
        }
    }
}
