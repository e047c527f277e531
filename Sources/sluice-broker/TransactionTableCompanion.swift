import Logging
import SluiceBroker
import SluiceReplication

/// Keeps the transaction table of a replicated broker in step with the log it copies: the
/// coordinator replays copied events every maintenance tick; this moves its cursor back after a
/// truncation and, on promotion, replays the last ones before the broker takes appends and its
/// checker starts asking about prepared halves.
struct TransactionTableCompanion: ReplicaCompanion {
    let handle: BrokerHandle
    let logger: Logger

    func logTruncated() async {
        await handle.coordinator?.copiedLogTruncated()
    }

    func willLead() async {
        // Still starting (no coordinator yet): its start-up reconcile replays the whole log.
        guard let coordinator = handle.coordinator else { return }
        do throws(BrokerError) {
            let applied = try await coordinator.applyCopiedEvents()
            logger.info("transaction table caught up with the copied log", metadata: ["events.applied": "\(applied)"])
        } catch {
            logger.error("transaction table behind the log at promotion", metadata: ["error": "\(error)"])
        }
    }
}
