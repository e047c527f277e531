import Logging
import SluiceTransactions

extension TransactionCoordinator {
    /// Audits an operator resolution the coordinator refused before the table saw it: an unknown
    /// id (`unknown transaction`) or the opposite resolution already standing (`refused: …`).
    /// Producer and check resolutions are not audited, as before.
    func auditRefusedOperatorResolve(
        _ error: BrokerError, transactionId: String, resolution: TransactionResolution, actor: String?, reason: String?
    ) async {
        guard let actor, !actor.isEmpty else { return }
        let detail: String
        switch error.code {
        case .transactionNotFound: detail = "unknown transaction"
        case .transactionConflict: detail = "refused: \(error.message)"
        default: return
        }
        do throws(TransactionStoreError) {
            try await store.recordRefusedResolve(
                actor: actor, resolution: resolution, transactionId: transactionId, detail: detail, reason: reason,
                at: nowMs())
        } catch {
            logger.error("cannot audit a refused operator resolution", metadata: ["txn.id": "\(transactionId)", "error": "\(error)"])
        }
    }
}
