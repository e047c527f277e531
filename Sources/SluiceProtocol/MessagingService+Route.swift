import SluiceBroker
import SluiceWire

extension MessagingService {
    /// The topic's queues, all on this broker, reachable at the endpoints the client dialled (so
    /// port mappings and host names keep working).
    func route(for request: Apache_Rocketmq_V2_QueryRouteRequest) async throws(ProtocolRefusal)
        -> [Apache_Rocketmq_V2_MessageQueue]
    {
        let name = request.topic.name
        let topic = try await existingTopic(name)
        var endpoints = request.endpoints
        if endpoints.addresses.isEmpty {
            endpoints.scheme = .ipv4
            var address = Apache_Rocketmq_V2_Address()
            address.host = configuration.advertisedHost
            address.port = Int32(configuration.advertisedPort)
            endpoints.addresses = [address]
        }
        if endpoints.scheme == .unspecified { endpoints.scheme = .ipv4 }
        return (0..<topic.queueCount).map { queueId in
            var queue = Apache_Rocketmq_V2_MessageQueue()
            queue.topic = request.topic
            queue.id = Int32(queueId)
            queue.permission = .readWrite
            queue.broker.name = "sluice"
            queue.broker.id = 0
            queue.broker.endpoints = endpoints
            queue.acceptMessageTypes = [topic.messageType.wireType]
            return queue
        }
    }

    /// - Throws: TOPIC_NOT_FOUND (40402) naming the topic, or INTERNAL_ERROR while starting.
    func existingTopic(_ name: String) async throws(ProtocolRefusal) -> TopicDefinition {
        guard let registry = handle.topics else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        if name.isEmpty { throw ProtocolRefusal(.illegalTopic, "the topic name is empty") }
        // A group's dead-letter queue reads like a one-queue normal topic.
        if let deadLetters = handle.consumption?.deadLetterTopic(named: name) { return deadLetters }
        let topic: TopicDefinition?
        do throws(BrokerError) {
            topic = try await registry.topic(named: name)
        } catch {
            throw ProtocolRefusal(error)
        }
        guard let topic else {
            throw ProtocolRefusal(
                .topicNotFound, "topic \(name) does not exist; create it with `sluice topic create \(name) --type normal`")
        }
        return topic
    }
}
