/// How often and how hard `TransactionChecker` asks producers about their transactions.
///
/// The first check is not scheduled here: `TransactionStateStore.recordPrepared(_:)` sets it to
/// the message's creation time plus its own recovery delay (`firstCheckDelayMs`, which the
/// producer may set per message) or else the store's `defaultFirstCheckDelayMs` (6 s, RocketMQ's
/// `transactionTimeOut`). From then on attempt `n` (1-based) is followed by the next after
/// `checkInterval(afterAttempt: n)`, until `maximumChecks` checks went without a decision; the
/// `CheckBudgetHandler` (the policy) decides after that.
public struct TransactionCheckerConfiguration: Sendable, Hashable {
    /// The pause after the first check before the second (RocketMQ's `transactionCheckInterval`,
    /// 30 s). Later pauses grow with `backoffMultiplier`.
    public var checkInterval: Duration
    /// Each pause is this many times the previous one: 1.0 (the default) keeps a fixed interval
    /// like RocketMQ; 2.0 doubles it each time. Must be at least 1.
    public var backoffMultiplier: Double
    /// The longest pause backoff may reach.
    public var maximumCheckInterval: Duration
    /// Checks sent without a decision before the budget handler is called (RocketMQ's
    /// `transactionCheckMax`, 15).
    public var maximumChecks: Int
    /// How long a sent, unanswered check blocks the next one: the transaction is not due again
    /// until then, so one transaction never has two checks outstanding. nil (the default) uses
    /// the attempt's `checkInterval(afterAttempt:)`.
    public var answerTimeout: Duration?
    /// How long a transaction waits before the checker looks at it again when no instance of
    /// its producer is live, a send failed, or the budget handler left it prepared. Waiting
    /// spends no check budget.
    public var retryDelay: Duration
    /// The pause between passes when the last one found less than `batchLimit` due.
    public var pollInterval: Duration
    /// The most due transactions one pass reads and dispatches.
    public var batchLimit: Int
    /// Checks per producer group (or per topic, for transactions with no group); nil = unlimited.
    public var producerGroupRateLimit: CheckRateLimit?
    /// The most checks (store write plus send) in progress at once within a pass.
    public var maximumConcurrentSends: Int

    public init(
        checkInterval: Duration = .seconds(30),
        backoffMultiplier: Double = 1.0,
        maximumCheckInterval: Duration = .seconds(30 * 60),
        maximumChecks: Int = 15,
        answerTimeout: Duration? = nil,
        retryDelay: Duration = .seconds(5),
        pollInterval: Duration = .seconds(1),
        batchLimit: Int = 1_000,
        producerGroupRateLimit: CheckRateLimit? = CheckRateLimit(checksPerSecond: 1_000),
        maximumConcurrentSends: Int = 128
    ) {
        self.checkInterval = checkInterval
        self.backoffMultiplier = backoffMultiplier
        self.maximumCheckInterval = maximumCheckInterval
        self.maximumChecks = maximumChecks
        self.answerTimeout = answerTimeout
        self.retryDelay = retryDelay
        self.pollInterval = pollInterval
        self.batchLimit = batchLimit
        self.producerGroupRateLimit = producerGroupRateLimit
        self.maximumConcurrentSends = maximumConcurrentSends
    }

    /// The pause after check `attempt` (1-based) before the next:
    /// `checkInterval × backoffMultiplier^(attempt − 1)`, at most `maximumCheckInterval`.
    /// Also the delay to pass to `recordCheckOutcome(nextCheckAtMs:)` after an UNKNOWN answer.
    public func checkInterval(afterAttempt attempt: Int) -> Duration {
        let capMs = Double(maximumCheckInterval.wholeMilliseconds)
        var intervalMs = Double(checkInterval.wholeMilliseconds)
        var step = 1
        while step < attempt, intervalMs < capMs, backoffMultiplier > 1 {
            intervalMs *= backoffMultiplier
            step += 1
        }
        guard intervalMs.isFinite, intervalMs < capMs else { return maximumCheckInterval }
        return .milliseconds(Int64(intervalMs))
    }

    /// How long check `attempt` may stay unanswered before the next is sent.
    public func answerTimeout(forAttempt attempt: Int) -> Duration {
        answerTimeout ?? checkInterval(afterAttempt: attempt)
    }

    /// Checks every field against its limit.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument`, naming the field and the limit.
    public func validate() throws(TransactionStoreError) {
        func invalid(_ message: String) -> TransactionStoreError {
            TransactionStoreError(code: .invalidArgument, message: message)
        }
        for (field, value) in [
            ("checkInterval", checkInterval), ("maximumCheckInterval", maximumCheckInterval),
            ("retryDelay", retryDelay), ("pollInterval", pollInterval),
            ("answerTimeout", answerTimeout ?? checkInterval),
        ] where value.wholeMilliseconds < 1 {
            throw invalid("\(field) is \(value); it must be at least 1 ms")
        }
        guard backoffMultiplier >= 1, backoffMultiplier.isFinite else {
            throw invalid("backoffMultiplier is \(backoffMultiplier); it must be finite and at least 1")
        }
        guard maximumChecks >= 1 else {
            throw invalid("maximumChecks is \(maximumChecks); it must be at least 1")
        }
        guard batchLimit >= 1 else {
            throw invalid("batchLimit is \(batchLimit); it must be at least 1")
        }
        guard maximumConcurrentSends >= 1 else {
            throw invalid("maximumConcurrentSends is \(maximumConcurrentSends); it must be at least 1")
        }
        if let limit = producerGroupRateLimit {
            guard limit.checksPerSecond > 0, limit.checksPerSecond.isFinite else {
                throw invalid("producerGroupRateLimit.checksPerSecond is \(limit.checksPerSecond); it must be positive")
            }
            guard limit.burst >= 1 else {
                throw invalid("producerGroupRateLimit.burst is \(limit.burst); it must be at least 1")
            }
        }
    }
}
