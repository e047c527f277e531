extension TransactionStateMachine {
    /// What to do with a request.
    public enum Action: Sendable, Hashable {
        /// Move to the given state.
        case apply(TransactionState)
        /// Nothing to change: the transaction is already in the requested outcome (or, for a
        /// budget exhaustion, no longer prepared). Report success.
        case alreadyResolved(TransactionState)
        /// The request contradicts a final resolution; report the reason as an error.
        case refuse(reason: String)
    }
}
