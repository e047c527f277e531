import CSQLite

/// One SQLite database connection, used on the thread that opened it.
///
/// Opening switches the database to WAL mode, applies `PRAGMA synchronous`, sets the busy
/// timeout, turns foreign keys on and keeps temporary files (statement journals) in memory. The handle is opened with `SQLITE_OPEN_NOMUTEX`: SQLite does
/// not lock around it, so every entry point checks with a precondition that it runs on the owning
/// thread (see `SQLiteExecutor`, which gives a connection its own thread).
///
/// Statements reached through `cachedStatement(_:)`, `run(_:_:)` and `query(_:_:row:)` are
/// prepared once with `SQLITE_PREPARE_PERSISTENT` and finalized by `close()`.
public final class SQLiteConnection {
    /// The path the connection was opened with.
    public let path: String
    private var handle: OpaquePointer?
    private var cache = SQLiteStatementCache()
    private let owner = OwningThread()

    /// Opens (or creates) the database at `path` and configures it.
    ///
    /// - Throws: `SQLiteError` with `.cannotOpen` when the file cannot be opened, `.notADatabase`
    ///   when it is not SQLite, `.busy` when the WAL switch cannot get its lock in time, or
    ///   `.error` when the database refuses WAL mode.
    public init(path: String, options: SQLiteConnectionOptions = SQLiteConnectionOptions()) throws(SQLiteError) {
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if options.readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if options.createIfMissing {
                flags |= SQLITE_OPEN_CREATE
            }
        }
        var database: OpaquePointer?
        let rc = sqlite3_open_v2(path, &database, flags, nil)
        guard rc == SQLITE_OK, let database else {
            let error = SQLiteError(handle: database, fallback: rc, sql: nil)
            sqlite3_close(database)
            throw SQLiteError(code: error.code, message: "cannot open \(path): \(error.message)")
        }
        handle = database
        do {
            try configure(options)
        } catch {
            sqlite3_close(database)
            handle = nil
            throw error
        }
    }

    private func configure(_ options: SQLiteConnectionOptions) throws(SQLiteError) {
        sqlite3_busy_timeout(live, options.busyTimeoutMilliseconds)
        if !options.readOnly {
            // journal_mode answers with the mode in force, which is not WAL for in-memory databases.
            let mode = try query("PRAGMA journal_mode = WAL") { row in row.string(at: 0) }.first ?? ""
            guard mode.lowercased() == "wal" else {
                throw SQLiteError(
                    code: .error, message: "database at \(path) refused WAL mode (journal_mode is \(mode))")
            }
        }
        try execute("PRAGMA synchronous = \(options.synchronous.rawValue)")
        try execute("PRAGMA foreign_keys = ON")
        // Statement journals (a batch of rows in one statement inside a transaction) spill past
        // 64 KiB to a temporary file: every 100 ms flush of held transactions wrote one under
        // /var/tmp (strace: `etilqs_*`). Nothing temporary needs to outlive the connection.
        try execute("PRAGMA temp_store = MEMORY")
    }

    deinit {
        if handle != nil {
            // Reached only when close() was skipped, possibly on another thread: the v2 close
            // leaves the handle to SQLite to free once nothing references it.
            sqlite3_close_v2(handle)
        }
    }

    var live: OpaquePointer {
        owner.preconditionIsCurrent("SQLiteConnection")
        guard let handle else { preconditionFailure("SQLiteConnection used after close: \(path)") }
        return handle
    }

    /// Whether the calling thread owns this connection.
    public var isOnOwningThread: Bool { owner.isCurrent }

    /// Runs one or more SQL statements separated by semicolons, without parameters
    /// (`sqlite3_exec`). Used for migrations and pragmas.
    public func execute(_ sql: String) throws(SQLiteError) {
        let database = live
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(database, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard rc == SQLITE_OK else {
            var error = SQLiteError(handle: database, fallback: rc, sql: sql)
            if let message { error.message = String(cString: message) }
            throw error
        }
    }

    /// The cached statement for `sql`, prepared on first use, reset and with bindings cleared.
    public func cachedStatement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        try cache.statement(for: sql, database: live, owner: owner)
    }

    /// Prepares `sql` outside the cache, hands it to `body` and finalizes it afterwards. For
    /// statements built at run time that are unlikely to repeat.
    public func withUncachedStatement<T>(
        _ sql: String,
        _ body: (SQLiteStatement) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> T {
        let statement = try SQLiteStatement(database: live, sql: sql, flags: 0, owner: owner)
        defer { statement.finalize() }
        return try body(statement)
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE (`sqlite3_changes64`).
    public var changes: Int { Int(sqlite3_changes64(live)) }

    /// Rows changed since the connection opened (`sqlite3_total_changes64`).
    public var totalChanges: Int { Int(sqlite3_total_changes64(live)) }

    /// The rowid of the most recent successful INSERT.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(live) }

    /// Whether a transaction is open (the connection is not in autocommit mode).
    public var isInTransaction: Bool { sqlite3_get_autocommit(live) == 0 }

    /// The number of cached prepared statements.
    public var cachedStatementCount: Int { cache.count }

    /// Finalizes cached statements and closes the handle. The connection cannot be used afterwards.
    ///
    /// - Throws: `SQLiteError` with `.busy` when a statement prepared elsewhere is still alive.
    public func close() throws(SQLiteError) {
        let database = live
        cache.finalizeAll()
        let rc = sqlite3_close(database)
        guard rc == SQLITE_OK else { throw SQLiteError(handle: database, fallback: rc, sql: nil) }
        handle = nil
    }
}

@available(*, unavailable, message: "a connection is owned by one thread; reach it through SQLiteExecutor")
extension SQLiteConnection: Sendable {}
