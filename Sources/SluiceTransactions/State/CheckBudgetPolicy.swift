/// What happens to a prepared transaction whose check budget is spent.
public enum CheckBudgetPolicy: String, Sendable, Hashable, CaseIterable {
    /// Stop checking and wait for a producer or operator (the default: nothing is lost).
    case park
    /// Roll it back, as RocketMQ does when `transactionCheckMax` is reached.
    case rollback
}
