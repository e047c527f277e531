import CSluiceShims
import Dispatch
import Foundation
import Logging
import Synchronization

/// Owns one `SQLiteConnection` on a dedicated thread and runs work on it.
///
/// SQLite calls block (on locks, on `fsync`), so they must not run on Swift's cooperative pool,
/// whose few threads also serve the network. The executor starts its own `Thread`, opens the
/// connection there and is the only code that touches it.
///
/// Writes are group-committed: writes queued while a transaction runs are executed together in
/// the next `BEGIN IMMEDIATE … COMMIT`, each inside its own `SAVEPOINT`, so a failing write rolls
/// back only itself and gets its own error. Every write of a batch completes after its COMMIT.
/// With `synchronous = FULL`, one WAL sync then covers the whole batch.
///
/// Work cannot be cancelled once queued: it runs, and its caller learns the outcome.
///
/// One file, one writer: the stores that live in one database file share one executor
/// (`share()`), so their writes group-commit together instead of taking turns at SQLite's WAL
/// write lock, where the loser sleeps in the busy handler (1, 2, 5, 10 … ms).
public final class SQLiteExecutor: Sendable {
    private let core: Core
    /// The database path.
    public let path: String
    /// How many `SQLiteExecutor` values still use `core`; shared by every value `share()` made.
    private let owners: Owners
    /// Set once this value has given its use back (`close()` or deinit).
    private let released = Atomic<Bool>(false)
    /// Where `readCommitted` runs when the configuration asks for it: a connection and thread of
    /// its own (WAL readers never wait for the writer), so a long count or listing does not hold
    /// up the writes queued on `core` — with one writer per file, every store's writes.
    private let committedReader: SQLiteExecutor?

    private final class Owners: Sendable {
        let count = Atomic<Int>(1)
    }

    private init(core: Core, path: String, owners: Owners = Owners(), committedReader: SQLiteExecutor? = nil) {
        self.core = core
        self.path = path
        self.owners = owners
        self.committedReader = committedReader
    }

    /// Another owner of the same connection and thread: its work joins the same queue and group
    /// commits. The database closes when every owner has closed (or dropped) its value.
    public func share() -> SQLiteExecutor {
        owners.count.wrappingAdd(1, ordering: .relaxed)
        return SQLiteExecutor(core: core, path: path, owners: owners, committedReader: committedReader)
    }

    /// Gives this value's use back; true when it was the last one (the caller closes).
    private func release() -> Bool {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        return owners.count.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0
    }

    /// Starts the executor thread and opens the database on it.
    ///
    /// - Throws: `SQLiteError` when the database cannot be opened or configured.
    public static func open(
        path: String,
        configuration: SQLiteExecutorConfiguration = SQLiteExecutorConfiguration(),
        logger: Logger = Logger(label: "sluice.sqlite")
    ) async throws -> SQLiteExecutor {
        let core = Core(metricsLabel: configuration.metricsLabel)
        try await withCheckedThrowingContinuation { (opened: CheckedContinuation<Void, any Error>) in
            let threadName = configuration.threadName
            let thread = Thread {
                // Named from inside, before any work: a new Linux thread starts with its
                // creator's name, and Foundation's setter does not always reach the kernel.
                _ = sluice_set_current_thread_name(threadName)
                let connection: SQLiteConnection
                do {
                    connection = try SQLiteConnection(path: path, options: configuration.connection)
                } catch {
                    core.markClosed()
                    opened.resume(throwing: error)
                    return
                }
                opened.resume()
                logger.debug("database open", metadata: ["sqlite.path": "\(path)"])
                let worker = Worker(
                    connection: connection, core: core, synchronous: configuration.connection.synchronous,
                    maximumWritesPerTransaction: configuration.maximumWritesPerTransaction, logger: logger)
                worker.run()
                logger.debug("database closed", metadata: ["sqlite.path": "\(path)"])
            }
            thread.start()
        }
        var committedReader: SQLiteExecutor?
        if configuration.committedReader {
            var readerConfiguration = configuration
            readerConfiguration.committedReader = false
            readerConfiguration.threadName = configuration.committedReaderThreadName
            do {
                committedReader = try await open(path: path, configuration: readerConfiguration, logger: logger)
            } catch {
                try? await SQLiteExecutor(core: core, path: path).close()
                throw error
            }
        }
        return SQLiteExecutor(core: core, path: path, committedReader: committedReader)
    }

    deinit {
        // Forgotten close: let the thread finish queued work, close the connection and exit.
        if release() { _ = core.enqueue(.close { _ in }) }
    }

    /// Runs `body` on the executor thread in a read-only transaction (one consistent snapshot).
    ///
    /// - Throws: whatever `body` throws; `SQLiteError` with `.readOnly` when `body` tries to
    ///   write; `SQLiteExecutorError.Code.closed` after `close()`.
    public func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await submit { .read(WorkItem(body, continuation: $0)) }
    }

    /// Like `read`, but on the committed-state reader when the executor has one
    /// (`SQLiteExecutorConfiguration.committedReader`): the body sees what was committed when it
    /// starts, not writes still queued before it, and never waits behind them. For counts,
    /// gauges and operator listings; a read that must follow writes it queued uses `read`.
    public func readCommitted<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        if let committedReader { return try await committedReader.read(body) }
        return try await read(body)
    }

    /// Runs `body` on the executor thread inside a savepoint of a shared write transaction.
    ///
    /// Returns after the transaction has committed. When `body` throws, its changes are rolled
    /// back to the savepoint and its error is rethrown; the other writes of the batch still commit.
    /// `body` must not run `BEGIN`, `COMMIT` or `ROLLBACK` (savepoints of its own are fine).
    ///
    /// - Throws: whatever `body` throws; `SQLiteError` when the transaction cannot begin or commit;
    ///   `SQLiteExecutorError` with `.rolledBackByNeighbour` when SQLite aborted the batch, or
    ///   `.closed` after `close()`.
    /// With `synced`, the write is on disk when this returns even on a connection opened with
    /// `synchronous = NORMAL` (whose commits reach the disk only at the next checkpoint, so a
    /// power loss could undo them): its batch commits with `synchronous = FULL`. Use it for rare
    /// writes nothing else can rebuild (metadata an operator created), not for the hot path.
    public func write<T: Sendable>(
        synced: Bool = false, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        try await submit { continuation in
            var item = WorkItem(body, continuation: continuation)
            item.synced = synced
            return .write(item)
        }
    }

    /// Queues `body` like `write` but without waiting: it returns once the write is queued, and
    /// `completion` runs (on the executor thread) after the commit. Writes queued one after
    /// another from one thread commit in that order, which callers that must not let a later
    /// state overtake an earlier one (a crash between their commits) rely on.
    public func enqueueWrite<T: Sendable>(
        synced: Bool = false,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        var item = WorkItem(body, completion: completion)
        item.synced = synced
        if !core.enqueue(.write(item)) {
            completion(.failure(SQLiteExecutorError(code: .closed, message: "the database at \(path) is closed")))
        }
    }

    /// Runs `body` on the executor thread outside any transaction; the body manages its own
    /// (migrations use this). A body that leaves a transaction open has it rolled back and fails.
    ///
    /// - Throws: whatever `body` throws; `SQLiteExecutorError.Code.closed` after `close()`.
    public func exclusive<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await submit { .exclusive(WorkItem(body, continuation: $0)) }
    }

    /// Finishes the work already queued, finalizes the cached statements and closes the
    /// connection; the thread then ends. Work submitted afterwards fails with `.closed`.
    /// Closing twice is harmless. While other owners (`share()`) still use the connection, this
    /// only gives this value's use back and returns at once.
    ///
    /// - Throws: `SQLiteError` when `sqlite3_close` fails.
    public func close() async throws {
        guard release() else { return }
        let result: (any Error)? = await withCheckedContinuation { (closed: CheckedContinuation<(any Error)?, Never>) in
            if !core.enqueue(.close { closed.resume(returning: $0) }) {
                closed.resume(returning: nil)
            }
        }
        let readerResult: (any Error)?
        do {
            try await committedReader?.close()
            readerResult = nil
        } catch {
            readerResult = error
        }
        if let result { throw result }
        if let readerResult { throw readerResult }
    }

    /// SQLite write transactions committed so far. Each covers one or more writes.
    public var committedTransactionCount: Int {
        core.committedTransactionCount
    }

    /// Writes committed so far (successful bodies only).
    public var committedWriteCount: Int {
        core.committedWriteCount
    }

    /// Jobs queued and not yet taken by the executor thread.
    public var queuedJobCount: Int {
        core.queuedJobCount
    }

    private func submit<T: Sendable>(
        _ makeJob: (CheckedContinuation<T, any Error>) -> Job
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            if !core.enqueue(makeJob(continuation)) {
                continuation.resume(
                    throwing: SQLiteExecutorError(code: .closed, message: "the database at \(path) is closed"))
            }
        }
    }
}

extension SQLiteExecutor {
    /// `shared.share()` when another store already has the file open, else a new executor.
    /// The configuration applies only to a new one: a shared connection keeps its own options,
    /// so a store that needs its writes on disk at commit asks for `write(synced: true)`.
    public static func open(
        path: String, configuration: SQLiteExecutorConfiguration, logger: Logger, sharing shared: SQLiteExecutor?
    ) async throws -> SQLiteExecutor {
        if let shared {
            precondition(shared.path == path, "a shared SQLite executor serves \(shared.path), not \(path)")
            return shared.share()
        }
        return try await open(path: path, configuration: configuration, logger: logger)
    }
}
