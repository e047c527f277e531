/// How a `TransactionStateStore` opens its database and schedules first checks.
public struct TransactionStoreConfiguration: Sendable {
    /// The SQLite executor: synchronous mode, busy timeout, write batch cap.
    public var executor: SQLiteExecutorConfiguration
    /// Delay between a half message's arrival and its first check, unless the message carries
    /// its own. RocketMQ's broker default (`transactionTimeOut`) is 6 seconds.
    public var defaultFirstCheckDelayMs: Int64
    /// The schema migrations to apply at open (the embedded `migrations/` files by default).
    public var migrations: [Migration]

    public init(
        executor: SQLiteExecutorConfiguration = SQLiteExecutorConfiguration(),
        defaultFirstCheckDelayMs: Int64 = 6_000,
        migrations: [Migration] = Migration.embedded
    ) {
        self.executor = executor
        self.defaultFirstCheckDelayMs = defaultFirstCheckDelayMs
        self.migrations = migrations
    }
}
