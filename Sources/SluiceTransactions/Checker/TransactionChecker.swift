import Logging
import Metrics
import Synchronization

/// Asks producers about transactions they left prepared (RocketMQ's transaction check-back).
///
/// Each pass (`runOnce()`) reads the transactions whose next check is due, through the store's
/// partial index on `next_check_at_ms` (the cost grows with what is due, not with what is
/// pending), and for each one:
///
/// 1. budget spent (`checkCount >= maximumChecks`): calls the `CheckBudgetHandler`, which
///    applies the policy (park by default; retried after `retryDelay` if it left the
///    transaction prepared);
/// 2. picks a client: the very instance that sent the half message if it is live, otherwise the
///    first of `ProducerDirectory.liveClients(producerGroup:topic:)`; with none, the transaction
///    waits `retryDelay` and no check budget is spent;
/// 3. asks the producer group's token bucket; over the limit, the transaction is told when to
///    come back (spread one token apart) and waits, again without spending budget;
/// 4. records the check (`markCheckSent`) with an answer deadline of `answerTimeout(forAttempt:)`,
///    which is also its next check time, then sends it. A failed send is withdrawn
///    (`withdrawCheck`: budget given back) and retried after `retryDelay`.
///
/// The first check's time is set when the half message is recorded (`recordPrepared`: created
/// plus the message's own recovery delay, or the store's `defaultFirstCheckDelayMs`, 6 s).
///
/// One check at a time per transaction: after `markCheckSent` the transaction is not due again
/// until its answer deadline, and in memory every transaction being worked on is claimed, so
/// overlapping passes (a concurrent `runOnce()`, a pass still sending) never act on it twice.
/// Answers do not come through the checker: COMMIT and ROLLBACK go through the broker's
/// `TransactionCoordinator.end(…, source: .check, …)` (which appends the commit to the log and
/// then resolves the row), the same path as the producer's EndTransaction, which refuses a
/// commit after a rollback.
///
/// Runs as a `Service` (`run()`): a pass, then a wait of `pollInterval` (cut short by `wake()`,
/// or skipped while passes come back full), until graceful shutdown or cancellation. Sends run
/// in the pass's own task group, at most `maximumConcurrentSends` at once; no task outlives it.
///
/// Metrics: `sluice_transaction_checks_total{outcome}`, outcome one of `sent`, `no_client`,
/// `send_failed`, `budget_exhausted`, `rate_limited`.
public final class TransactionChecker: Sendable {
    public let configuration: TransactionCheckerConfiguration
    let store: TransactionStateStore
    let sender: any CheckBackSender
    let directory: any ProducerDirectory
    let budgetHandler: any CheckBudgetHandler
    let clock: any Clock<Duration>
    let wallClockMs: @Sendable () -> Int64
    let logger: Logger
    let metrics: CheckerMetrics
    let claims = CheckClaims()
    let rateLimiter: CheckRateLimiter?
    let wakeup = CheckerWakeup()
    let isStopping = Atomic<Bool>(false)
    /// True while this broker may not act on its table (a replicated group's follower).
    let isPaused: @Sendable () -> Bool

    /// - Parameters:
    ///   - budgetHandler: applies the policy to a spent budget; nil for `ParkingBudgetHandler`.
    ///   - clock: what the run loop sleeps on between passes.
    ///   - wallClockMs: milliseconds since the Unix epoch, for the store's timestamps and the
    ///     rate limiter.
    ///   - metricsFactory: where the counters go (the global `MetricsSystem` by default).
    ///   - isPaused: checked at the start of every pass; while true the pass does nothing. A
    ///     replicated group's follower pauses: its table is a copy, it cannot append a
    ///     resolution, and its leader checks the same transactions.
    /// - Throws: `TransactionStoreError` with `.invalidArgument` when `configuration` is out of
    ///   range (see `TransactionCheckerConfiguration.validate()`).
    public init(
        store: TransactionStateStore,
        sender: any CheckBackSender,
        directory: any ProducerDirectory,
        budgetHandler: (any CheckBudgetHandler)? = nil,
        configuration: TransactionCheckerConfiguration = TransactionCheckerConfiguration(),
        clock: any Clock<Duration> = ContinuousClock(),
        wallClockMs: @escaping @Sendable () -> Int64 = { SystemWallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.transactions.checker"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        isPaused: @escaping @Sendable () -> Bool = { false }
    ) throws(TransactionStoreError) {
        self.isPaused = isPaused
        try configuration.validate()
        self.configuration = configuration
        self.store = store
        self.sender = sender
        self.directory = directory
        self.budgetHandler =
            budgetHandler ?? ParkingBudgetHandler(store: store, wallClockMs: wallClockMs, logger: logger)
        self.clock = clock
        self.wallClockMs = wallClockMs
        self.logger = logger
        self.metrics = CheckerMetrics(factory: metricsFactory)
        self.rateLimiter = configuration.producerGroupRateLimit.map { CheckRateLimiter(limit: $0) }
    }

    /// Starts the next pass of `run()` now instead of after the idle wait, e.g. when a producer
    /// instance reconnects. A wake-up during a pass starts another right after it.
    public func wake() {
        wakeup.signal()
    }

    /// Transactions being checked (or postponed, or handed to the budget handler) right now.
    public var inFlightCount: Int {
        claims.count
    }
}
