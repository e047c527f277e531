/// The topics the broker serves. Lookups happen on every send, so implementations answer
/// `topic(named:)` from memory.
public protocol TopicRegistry: Sendable {
    /// The topic called `name`, or nil when there is none.
    ///
    /// - Throws: `BrokerError` `.storageFailure` when the registry cannot be read.
    func topic(named name: String) async throws(BrokerError) -> TopicDefinition?

    /// Creates a topic, or returns the existing one when it has the same type and queue count
    /// (so retried creates are harmless).
    ///
    /// - Throws: `BrokerError` `.invalidArgument` for a bad name (see `TopicName.validate`) or a
    ///   queue count outside `TopicDefinition.queueCountRange`; `.topicExists` when the topic
    ///   exists with another type or queue count (the message names the difference);
    ///   `.storageFailure` when it cannot be stored.
    func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) -> TopicDefinition

    /// Every topic, ordered by name.
    ///
    /// - Throws: `BrokerError` `.storageFailure` when the registry cannot be read.
    func list() async throws(BrokerError) -> [TopicDefinition]

    /// Deletes the topic called `name`; returns false when there was none.
    ///
    /// - Throws: `BrokerError` `.storageFailure` when the deletion cannot be stored.
    func delete(named name: String) async throws(BrokerError) -> Bool
}

extension TopicRegistry {
    /// Checks that a message of `type` may be sent to the topic called `name`.
    ///
    /// - Throws: `BrokerError` `.topicNotFound` when there is no such topic, `.invalidMessage`
    ///   when the topic carries another type (the message names both).
    public func requireTopic(named name: String, accepting type: TopicMessageType) async throws(BrokerError)
        -> TopicDefinition
    {
        guard let topic = try await topic(named: name) else {
            throw BrokerError(.topicNotFound, "topic '\(name)' does not exist; create it with `sluice topic create`")
        }
        guard topic.messageType == type else {
            throw BrokerError(
                .invalidMessage,
                "topic '\(name)' carries \(topic.messageType) messages; a \(type) message cannot be sent to it")
        }
        return topic
    }
}
