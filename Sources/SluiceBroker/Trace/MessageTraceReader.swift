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
        let all = receivedEvents(messageId: messageId) + events
        return Array(all.sorted { ($0.atMs, $0.sequence) < ($1.atMs, $1.sequence) }.suffix(wanted))
    }

    /// The "received" events of a message, read from the stored message itself (found by id): the
    /// producer's original or half message, not a commit copy, a rollback record or a dead-letter
    /// copy. No trace record is written for them, so a send stays one append.
    func receivedEvents(messageId: String) -> [MessageTraceEvent] {
        log.lookup(messageId: messageId).compactMap { record -> MessageTraceEvent? in
            let message = record.message
            guard record.messageId == messageId, message.flags & RecordFlag.committed == 0,
                let kind = RecordKind(rawValue: message.messageType), kind != .transactionRollback,
                record.property(MessageProperty.deadLetterOrigin) == nil
            else { return nil }
            let topic = record.property(TransactionEvent.Property.realTopic) ?? record.topic
            guard !topic.hasPrefix("RMQ_SYS_") else { return nil }
            var details = [MessageTraceEvent.Detail.topic: topic, MessageTraceEvent.Detail.type: Self.typeName(kind)]
            if let clientId = record.property(TransactionEvent.Property.clientId), !clientId.isEmpty {
                details[MessageTraceEvent.Detail.clientId] = clientId
            }
            if let bornHost = record.property(MessageProperty.bornHost), !bornHost.isEmpty {
                details[MessageTraceEvent.Detail.bornHost] = bornHost
            }
            return MessageTraceEvent(
                kind: .received, messageId: messageId, atMs: record.storeTimestampMs, sequence: 0, details: details)
        }
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
