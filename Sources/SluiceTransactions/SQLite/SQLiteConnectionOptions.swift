/// How a `SQLiteConnection` is opened and configured.
public struct SQLiteConnectionOptions: Sendable, Hashable {
    /// `PRAGMA synchronous`; see `SQLiteSynchronousMode` for the durability trade-off.
    public var synchronous: SQLiteSynchronousMode
    /// How long a statement waits for a lock held by another connection before failing with
    /// `SQLITE_BUSY` (`sqlite3_busy_timeout`).
    public var busyTimeoutMilliseconds: Int32
    /// Create the database file when it does not exist.
    public var createIfMissing: Bool
    /// Open read-only (no WAL switch, no migrations possible).
    public var readOnly: Bool

    public init(
        synchronous: SQLiteSynchronousMode = .normal,
        busyTimeoutMilliseconds: Int32 = 5_000,
        createIfMissing: Bool = true,
        readOnly: Bool = false
    ) {
        self.synchronous = synchronous
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.createIfMissing = createIfMissing
        self.readOnly = readOnly
    }
}
