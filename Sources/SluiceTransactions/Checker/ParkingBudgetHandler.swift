import Logging

/// The default check-budget policy, `park`: the transaction stops being checked and waits for
/// its producer or an operator (nothing is lost, nothing is guessed).
///
/// A failure to park is logged; the transaction stays prepared, and the checker asks again after
/// its `retryDelay`.
public struct ParkingBudgetHandler: CheckBudgetHandler {
    private let store: TransactionStateStore
    private let wallClockMs: @Sendable () -> Int64
    private let logger: Logger

    public init(
        store: TransactionStateStore,
        wallClockMs: @escaping @Sendable () -> Int64 = { SystemWallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.transactions.checker")
    ) {
        self.store = store
        self.wallClockMs = wallClockMs
        self.logger = logger
    }

    public func checkBudgetExhausted(_ transaction: TransactionRecord) async {
        do {
            let result = try await store.park(
                transactionId: transaction.transactionId,
                reason: "check budget spent: \(transaction.checkCount) checks without a decision",
                at: wallClockMs())
            logger.info(
                "transaction parked: check budget spent",
                metadata: [
                    "txn.id": "\(transaction.transactionId)", "txn.checks": "\(transaction.checkCount)",
                    "txn.state": "\(result.state)",
                ])
        } catch {
            logger.warning(
                "cannot park a transaction whose check budget is spent",
                metadata: ["txn.id": "\(transaction.transactionId)", "error": "\(error)"])
        }
    }
}
