import Logging
import Metrics
import SluiceBroker
import SluiceStorage
import SluiceTransactions
import SluiceWire

/// Sends the checker's "did this transaction commit?" to a producer as RocketMQ's
/// `RecoverOrphanedTransactionCommand` on its Telemetry stream, with the whole half message (the
/// client's checker sees only the message, not the transaction id).
public struct TelemetryCheckBackSender: CheckBackSender {
    let sessions: ClientSessions
    let handle: BrokerHandle
    let logger: Logger

    public init(sessions: ClientSessions, handle: BrokerHandle, logger: Logger) {
        self.sessions = sessions
        self.handle = handle
        self.logger = logger
    }

    public func isBeingResolved(_ transactionId: String) -> Bool {
        handle.coordinator?.isBeingResolved(transactionId) ?? false
    }

    public func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
        guard let log = handle.coordinator?.log else { return false }
        let half: StoredRecord
        do throws(StorageError) {
            half = try log.read(at: UInt64(check.commitLogOffset))
        } catch {
            logger.error("cannot read a half message for its check", metadata: ["txn.id": "\(check.transactionId)", "error": "\(error)"])
            return false
        }
        // A log cut and rewritten by another leader can hold a different transaction's half at
        // this offset: asking its producer about that message would resolve the wrong one.
        guard TransactionCoordinator.isHalf(half, of: check.transactionId) else {
            Counter(label: "sluice_transaction_check_mismatches_total").increment()
            logger.error(
                "the record at a half message's offset belongs to another transaction; no check-back sent",
                metadata: [
                    "txn.id": "\(check.transactionId)", "offset": "\(check.commitLogOffset)",
                    "record.txn.id": "\(half.property(TransactionEvent.Property.transactionId) ?? "none")",
                ])
            return false
        }
        var command = Apache_Rocketmq_V2_TelemetryCommand()
        var recover = Apache_Rocketmq_V2_RecoverOrphanedTransactionCommand()
        recover.message = WireMessage.message(from: half, topic: check.topic)
        recover.transactionID = check.transactionId
        command.recoverOrphanedTransactionCommand = recover
        let sent = sessions.push(command, to: clientId)
        logger.debug(
            "check-back", metadata: ["txn.id": "\(check.transactionId)", "client": "\(clientId)", "sent": "\(sent)"])
        return sent
    }
}
