import Metrics

/// The checker's counters, created once: `sluice_transaction_checks_total{outcome}`.
struct CheckerMetrics: Sendable {
    /// The metric's name.
    static let label = "sluice_transaction_checks_total"

    /// A check was handed to a producer instance.
    let sent: Counter
    /// No producer instance was live; the transaction waits, no budget spent.
    let noClient: Counter
    /// The send failed; the attempt was withdrawn.
    let sendFailed: Counter
    /// The check budget was spent; the budget handler was called.
    let budgetExhausted: Counter
    /// The producer group was over its rate limit; the transaction waits.
    let rateLimited: Counter

    init(factory: any MetricsFactory) {
        func counter(_ outcome: String) -> Counter {
            Counter(label: Self.label, dimensions: [("outcome", outcome)], factory: factory)
        }
        sent = counter("sent")
        noClient = counter("no_client")
        sendFailed = counter("send_failed")
        budgetExhausted = counter("budget_exhausted")
        rateLimited = counter("rate_limited")
    }
}
