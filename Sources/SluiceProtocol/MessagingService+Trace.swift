import SluiceBroker
import SluiceStorage

extension MessagingService {
    /// Prepares a producer's message for its trace (when tracing is on) without a record of its
    /// own: the stored message is the "received" event (the trace reader reads it back by message
    /// id), so it carries the sender's client id; a message sent without an id gets one here rather
    /// than from the log, so its later events can name it. A normal send stays one append.
    func prepareForTrace(_ record: inout MessageRecord, clientId: String) {
        guard let trace = handle.trace else { return }
        trace.assignMessageId(&record)
        if !clientId.isEmpty, record.messageType != RecordKind.transaction.rawValue {
            // Half messages carry it already (the coordinator routes check-backs by it).
            record.properties.append((TransactionEvent.Property.clientId, clientId))
        }
    }
}
