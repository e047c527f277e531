/// How a `SQLiteExecutor` opens its connection and batches writes.
public struct SQLiteExecutorConfiguration: Sendable {
    /// How the connection is opened (synchronous mode, busy timeout).
    public var connection: SQLiteConnectionOptions
    /// The most writes grouped into one SQLite transaction. Writes queued beyond it wait for the
    /// next transaction; the cap bounds how long the first write of a batch waits for the last.
    public var maximumWritesPerTransaction: Int
    /// The name of the executor's thread, shown by debuggers and `top -H`.
    public var threadName: String
    /// The `database` dimension of the executor's metrics.
    public var metricsLabel: String
    /// Opens a second connection, on a thread of its own, for `readCommitted`: counts and
    /// listings then never wait behind queued writes, nor hold them up.
    public var committedReader: Bool
    /// The name of the committed-state reader's thread (at most 15 characters show on Linux).
    public var committedReaderThreadName: String

    public init(
        connection: SQLiteConnectionOptions = SQLiteConnectionOptions(),
        maximumWritesPerTransaction: Int = 512,
        threadName: String = "sluice-sqlite",
        metricsLabel: String = "transactions",
        committedReader: Bool = false,
        committedReaderThreadName: String = "sluice-sql-read"
    ) {
        precondition(maximumWritesPerTransaction > 0, "maximumWritesPerTransaction must be positive")
        self.connection = connection
        self.maximumWritesPerTransaction = maximumWritesPerTransaction
        self.threadName = threadName
        self.metricsLabel = metricsLabel
        self.committedReader = committedReader
        self.committedReaderThreadName = committedReaderThreadName
    }
}
