/// Decides what becomes of a prepared transaction whose check budget is spent.
///
/// The broker passes its own: for `CheckBudgetPolicy.rollback` it must first append a rollback
/// record to the commit log and only then call `TransactionStateStore.exhaustCheckBudget(…,
/// policy: .rollback, …)`, so the checker never resolves a transaction by itself.
/// `ParkingBudgetHandler` implements the default policy, `park`.
///
/// The checker calls it when a due transaction has `checkCount >= maximumChecks`, after moving
/// its next check `retryDelay` ahead: if the transaction is still prepared afterwards (the
/// handler failed), it is called again then. Never twice at once for one transaction.
public protocol CheckBudgetHandler: Sendable {
    func checkBudgetExhausted(_ transaction: TransactionRecord) async
}
