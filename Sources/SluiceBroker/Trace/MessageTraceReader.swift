import SluiceStorage

/// Reads the trace of a message back from the commit log: the trace records carrying its trace key
/// (`trace:<id>`), found through the log's key index (no scan), oldest first.
public struct MessageTraceReader: Sendable {
    /// The most events returned for one message (the newest ones when it has more).
    public static let maximumEvents = 1000

    let log: CommitLog

    public init(log: CommitLog) {
        self.log = log
    }

    /// The recorded events of `messageId`, in the order they were recorded: by time, then by
    /// recording sequence. Empty when tracing was off, the message is unknown, or retention has
    /// deleted the segments holding its events.
    public func events(messageId: String, limit: Int = maximumEvents) -> [MessageTraceEvent] {
        guard !messageId.isEmpty, limit > 0 else { return [] }
        let wanted = min(limit, Self.maximumEvents)
        // The recorder appends a batch concurrently, so within a batch the log order is not the
        // recording order: the newest `wanted` by sequence are among the newest `wanted` plus one
        // batch by log position. A user message could carry the same key: keep only trace records
        // about this id.
        let events = log.lookup(
            key: MessageTraceRecord.key(forMessageId: messageId),
            limit: wanted + MessageTraceRecorder.Configuration().maximumBatch
        )
        .compactMap(MessageTraceRecord.event(from:))
        .filter { $0.messageId == messageId }
        // Logs written before the events were read from the records themselves also hold
        // half-stored, committed and rolled-back trace records: keep those, derive no second copy.
        let recordedKinds = Set(events.map(\.kind))
        let derived = storedEvents(messageId: messageId).filter { !recordedKinds.contains($0.kind) }
        let all = derived + events
        return Array(all.sorted(by: Self.order).suffix(wanted))
    }

    /// By time, then recording sequence; events read from records (sequence 0) in the order a
    /// message lives them when they share a millisecond.
    static func order(_ left: MessageTraceEvent, _ right: MessageTraceEvent) -> Bool {
        (left.atMs, left.sequence, rank(left.kind)) < (right.atMs, right.sequence, rank(right.kind))
    }

    private static func rank(_ kind: MessageTraceEvent.Kind) -> Int {
        switch kind {
        case .received: 0
        case .halfStored: 1
        case .committed, .rolledBack: 2
        default: 3
        }
    }

    /// The events a message's own records say, found by id, with no trace record written for
    /// them, so a send stays one append and a transaction two:
    /// - "received": the producer's original or half message (not a commit copy, a rollback
    ///   record or a dead-letter copy);
    /// - "half-stored": the half message, with its transaction id and producer;
    /// - "committed": the commit copy in its target queue, with who decided;
    /// - "rolled-back": the rollback record, with who decided and why.
    func storedEvents(messageId: String) -> [MessageTraceEvent] {
        log.lookup(messageId: messageId).flatMap { record -> [MessageTraceEvent] in
            guard record.messageId == messageId, let kind = RecordKind(rawValue: record.message.messageType),
                record.property(MessageProperty.deadLetterOrigin) == nil
            else { return [] }
            let transactionId = record.property(TransactionEvent.Property.transactionId)
            if kind == .transactionRollback {
                guard let transactionId else { return [] }
                return [Self.event(.rolledBack, of: record, details: Self.resolution(record, transactionId: transactionId))]
            }
            if record.message.flags & RecordFlag.committed != 0 {
                guard let transactionId else { return [] }
                var details = Self.resolution(record, transactionId: transactionId)
                details[MessageTraceEvent.Detail.topic] = record.topic
                details[MessageTraceEvent.Detail.queueId] = "\(record.queueId)"
                details[MessageTraceEvent.Detail.queueOffset] = "\(record.queueOffset)"
                return [Self.event(.committed, of: record, details: details)]
            }
            let topic = record.property(TransactionEvent.Property.realTopic) ?? record.topic
            guard !topic.hasPrefix("RMQ_SYS_") else { return [] }
            let clientId = record.property(TransactionEvent.Property.clientId) ?? ""
            var details = [MessageTraceEvent.Detail.topic: topic, MessageTraceEvent.Detail.type: Self.typeName(kind)]
            if !clientId.isEmpty { details[MessageTraceEvent.Detail.clientId] = clientId }
            if let bornHost = record.property(MessageProperty.bornHost), !bornHost.isEmpty {
                details[MessageTraceEvent.Detail.bornHost] = bornHost
            }
            var events = [Self.event(.received, of: record, details: details)]
            if kind == .transaction, record.message.flags & RecordFlag.half != 0, let transactionId {
                events.append(
                    Self.event(
                        .halfStored, of: record,
                        details: [
                            MessageTraceEvent.Detail.transactionId: transactionId, MessageTraceEvent.Detail.topic: topic,
                            MessageTraceEvent.Detail.clientId: clientId,
                        ]))
            }
            return events
        }
    }

    private static func event(_ kind: MessageTraceEvent.Kind, of record: StoredRecord, details: [String: String])
        -> MessageTraceEvent
    {
        MessageTraceEvent(kind: kind, messageId: record.messageId, atMs: record.storeTimestampMs, sequence: 0, details: details)
    }

    /// Who resolved a transaction, as its commit copy or rollback record carries it.
    private static func resolution(_ record: StoredRecord, transactionId: String) -> [String: String] {
        var details = [MessageTraceEvent.Detail.transactionId: transactionId]
        if let source = record.property(TransactionEvent.Property.source) { details[MessageTraceEvent.Detail.source] = source }
        if let actor = record.property(TransactionEvent.Property.actor), !actor.isEmpty {
            details[MessageTraceEvent.Detail.actor] = actor
        }
        if let reason = record.property(TransactionEvent.Property.reason), !reason.isEmpty {
            details[MessageTraceEvent.Detail.reason] = reason
        }
        return details
    }

    static func typeName(_ kind: RecordKind) -> String {
        switch kind {
        case .normal: "normal"
        case .fifo: "fifo"
        case .delay: "delay"
        case .transaction, .transactionRollback: "transaction"
        case .priority: "priority"
        case .lite: "lite"
        }
    }
}
