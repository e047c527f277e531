import SluiceBroker
import SluiceStorage

extension MessagingService {
    /// Records that a producer's message was received (when tracing is on). A message the client
    /// sent without an id gets one here rather than from the log, so its events can name it.
    func traceReceived(_ record: inout MessageRecord, topic: TopicDefinition, clientId: String) {
        guard let trace = handle.trace else { return }
        trace.assignMessageId(&record)
        trace.received(
            messageId: record.messageId, topic: topic.name, type: topic.messageType.rawValue, clientId: clientId,
            bornHost: record.properties.first { $0.0 == WireProperty.bornHost }?.1)
    }
}
