import Logging
import SluiceTransactions

/// What the checker does with a transaction whose check budget is spent, by policy: `park` (the
/// default: nothing is silently dropped; an operator or the producer can still resolve it) or
/// `rollback` (RocketMQ's behaviour), which goes through the coordinator so the rollback is an
/// event in the commit log like any other resolution.
public struct PolicyBudgetHandler: CheckBudgetHandler {
    let policy: CheckBudgetPolicy
    let coordinator: TransactionCoordinator
    let logger: Logger

    public init(policy: CheckBudgetPolicy, coordinator: TransactionCoordinator, logger: Logger) {
        self.policy = policy
        self.coordinator = coordinator
        self.logger = logger
    }

    public func checkBudgetExhausted(_ transaction: TransactionRecord) async {
        switch policy {
        case .park:
            await ParkingBudgetHandler(store: coordinator.store, wallClockMs: coordinator.nowMs, logger: logger)
                .checkBudgetExhausted(transaction)
        case .rollback:
            do throws(BrokerError) {
                _ = try await coordinator.end(
                    transactionId: transaction.transactionId, resolution: .rollback, source: .policy, actor: "policy",
                    reason: "check budget spent: \(transaction.checkCount) checks without a decision")
                logger.info("transaction rolled back: check budget spent", metadata: ["txn.id": "\(transaction.transactionId)"])
            } catch {
                logger.warning(
                    "cannot roll back a transaction whose check budget is spent",
                    metadata: ["txn.id": "\(transaction.transactionId)", "error": "\(error)"])
            }
        }
    }
}
