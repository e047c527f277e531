/// The transaction state machine: a pure function of the current state and an event.
///
/// ```
/// prepared ──commit──▶ committed        parked ──commit──▶ committed
/// prepared ──rollback─▶ rolled_back      parked ──rollback─▶ rolled_back
/// prepared ──budget spent, park─────▶ parked
/// prepared ──budget spent, rollback─▶ rolled_back (source: policy)
/// ```
///
/// Repeating the resolution a transaction already has is an idempotent success (a producer
/// retrying EndTransaction). Asking for the opposite of a final resolution is refused: a commit
/// after a rollback would deliver a message the producer was told was discarded.
/// It performs no I/O; `TransactionStateStore` applies its actions inside a write.
public struct TransactionStateMachine: Sendable {
    public init() {}

    /// Decides what a resolution request does.
    ///
    /// A parked transaction accepts resolutions from the producer, a (late) check answer or an
    /// operator, but not from the policy: the policy already had its say when it parked it.
    public func onResolve(
        current: TransactionState,
        requested: TransactionResolution,
        source: ResolutionSource
    ) -> Action {
        switch current {
        case .prepared:
            return .apply(requested.resultingState)
        case .parked:
            guard source != .policy else {
                return .refuse(
                    reason: "the policy cannot \(requested) a parked transaction; a producer or operator must")
            }
            return .apply(requested.resultingState)
        case .committed, .rolledBack:
            if current == requested.resultingState {
                return .alreadyResolved(current)
            }
            return .refuse(
                reason: "\(requested) after \(current == .committed ? "commit" : "rollback"): "
                    + "the transaction is already \(current == .committed ? "committed" : "rolled back")")
        }
    }

    /// Decides what happens when a prepared transaction has used its whole check budget.
    ///
    /// Only a prepared transaction changes. One that was resolved or parked meanwhile is left as
    /// it is (`.alreadyResolved` with its current state): the race is benign.
    public func onCheckBudgetExhausted(current: TransactionState, policy: CheckBudgetPolicy) -> Action {
        guard current == .prepared else {
            return .alreadyResolved(current)
        }
        switch policy {
        case .park: return .apply(.parked)
        case .rollback: return .apply(.rolledBack)
        }
    }
}
