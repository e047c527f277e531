/// The message types a topic accepts.
public enum TopicMessageType: String, Sendable, Codable, Hashable, CaseIterable {
    case normal, fifo, delay, transaction
}

/// A topic: its message type and how many queues it has.
public struct TopicDefinition: Sendable, Codable, Hashable {
    public var name: String
    public var messageType: TopicMessageType
    public var queueCount: Int
    public var createdAtMs: Int64

    public init(name: String, messageType: TopicMessageType, queueCount: Int, createdAtMs: Int64) {
        self.name = name
        self.messageType = messageType
        self.queueCount = queueCount
        self.createdAtMs = createdAtMs
    }
}

/// Where the broker's topics are defined.
public protocol TopicRegistry: Sendable {
    func topic(named name: String) async throws(BrokerError) -> TopicDefinition?
    func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) -> TopicDefinition
    func list() async throws(BrokerError) -> [TopicDefinition]
    func delete(named name: String) async throws(BrokerError) -> Bool
}
