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
        return Array(events.sorted { ($0.atMs, $0.sequence) < ($1.atMs, $1.sequence) }.suffix(wanted))
    }
}
