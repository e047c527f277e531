import SluiceStorage
import SluiceTransactions

/// One method per event kind, so every caller spells an event's details the same way.
extension MessageTraceRecorder {
    /// A consumer group received the message; `attempt` is 1 for the first delivery.
    public func delivered(messageId: String, group: String, clientId: String, attempt: Int) {
        record(
            .delivered, messageId: messageId,
            details: [
                MessageTraceEvent.Detail.group: group, MessageTraceEvent.Detail.clientId: clientId,
                MessageTraceEvent.Detail.attempt: "\(attempt)",
            ])
    }

    /// A consumer of `group` acknowledged the message.
    public func acked(messageId: String, group: String, clientId: String, attempt: Int) {
        record(
            .acked, messageId: messageId,
            details: [
                MessageTraceEvent.Detail.group: group, MessageTraceEvent.Detail.clientId: clientId,
                MessageTraceEvent.Detail.attempt: "\(attempt)",
            ])
    }

    /// A consumer of `group` changed the message's invisibility; it is invisible until
    /// `invisibleUntilMs` (ms since the epoch).
    public func invisibilityChanged(messageId: String, group: String, clientId: String, invisibleUntilMs: Int64) {
        record(
            .invisibilityChanged, messageId: messageId,
            details: [
                MessageTraceEvent.Detail.group: group, MessageTraceEvent.Detail.clientId: clientId,
                MessageTraceEvent.Detail.invisibleUntilMs: "\(invisibleUntilMs)",
            ])
    }

    /// A client recalled the DELAY message of `topic` before its delivery time.
    public func recalled(messageId: String, topic: String, clientId: String) {
        record(
            .recalled, messageId: messageId,
            details: [MessageTraceEvent.Detail.topic: topic, MessageTraceEvent.Detail.clientId: clientId])
    }

    /// `group` spent its delivery attempts (`attempts`, when known); the message was moved to
    /// `dlqTopic`.
    public func deadLettered(messageId: String, group: String, dlqTopic: String, attempts: Int? = nil) {
        var details = [MessageTraceEvent.Detail.group: group, MessageTraceEvent.Detail.deadLetterTopic: dlqTopic]
        if let attempts { details[MessageTraceEvent.Detail.attempt] = "\(attempts)" }
        record(.deadLettered, messageId: messageId, details: details)
    }
}
