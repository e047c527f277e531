/// What one pass of `TransactionChecker` did with the transactions it found due.
public struct CheckerPassReport: Sendable, Hashable {
    /// Due transactions read (at most `batchLimit`).
    public var due: Int = 0
    /// Checks handed to a producer instance.
    public var sent: Int = 0
    /// Checks whose send failed; withdrawn (no budget spent) and retried after `retryDelay`.
    public var sendFailed: Int = 0
    /// Transactions with no live producer instance; postponed by `retryDelay`, no budget spent.
    public var noClient: Int = 0
    /// Transactions whose producer group was over its rate limit; postponed until it has room.
    public var rateLimited: Int = 0
    /// Transactions handed to the `CheckBudgetHandler`.
    public var budgetExhausted: Int = 0
    /// Transactions skipped because a check (or budget decision) for them is still in progress.
    public var alreadyInFlight: Int = 0
    /// Transactions resolved or parked between being read and being checked; nothing sent.
    public var resolvedMeanwhile: Int = 0
    /// Store reads or writes that failed (logged); the transactions concerned stay due.
    public var storageErrors: Int = 0

    public init() {}

    /// Transactions that waited without spending budget: no client or rate-limited.
    public var waited: Int { noClient + rateLimited }

    /// Transactions passed over: already in flight or resolved meanwhile.
    public var skipped: Int { alreadyInFlight + resolvedMeanwhile }
}
