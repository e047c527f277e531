import Metrics
import NIOConcurrencyHelpers
import SluiceBroker

/// `sluice_messages_in_total{topic,type}`: messages stored from producers (a transactional
/// message counts once, when its half message is stored). One counter per topic and type,
/// created on first use and kept, so a send costs a dictionary lookup, not a registry lookup.
final class MessagesInMetric: Sendable {
    static let shared = MessagesInMetric()

    private let counters = NIOLockedValueBox<[String: Counter]>([:])

    func increment(topic: String, type: TopicMessageType) {
        let key = type.rawValue + "/" + topic
        let counter = counters.withLockedValue { counters in
            if let existing = counters[key] { return existing }
            let created = Counter(
                label: "sluice_messages_in_total", dimensions: [("topic", topic), ("type", type.rawValue)])
            counters[key] = created
            return created
        }
        counter.increment()
    }
}
