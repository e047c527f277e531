import SluiceBroker
import SluiceWire

extension MessagingService {
    /// The topic's queues, all on this broker, reachable at the endpoints the client dialled (so
    /// port mappings and host names keep working) — or, in a replicated broker group, at its
    /// leader's registered address, since only the leader takes appends.
    func route(for request: Apache_Rocketmq_V2_QueryRouteRequest) async throws(ProtocolRefusal)
        -> [Apache_Rocketmq_V2_MessageQueue]
    {
        let name = request.topic.name
        let topic = try await existingTopic(name)
        try Self.checkEndpoints(request.endpoints)
        var endpoints = request.endpoints
        if let leader = configuration.groupLeader?.endpoint {
            endpoints = Self.endpoints(of: leader)
        } else if endpoints.addresses.isEmpty {
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

    static func endpoints(of leader: GroupLeaderAddress.Endpoint) -> Apache_Rocketmq_V2_Endpoints {
        var endpoints = Apache_Rocketmq_V2_Endpoints()
        let isIPv4 = leader.host.split(separator: ".", omittingEmptySubsequences: false).count == 4
            && leader.host.allSatisfy { $0 == "." || $0.isASCII && $0.isNumber }
        endpoints.scheme = leader.host.contains(":") ? .ipv6 : isIPv4 ? .ipv4 : .domainName
        var address = Apache_Rocketmq_V2_Address()
        address.host = leader.host
        address.port = Int32(leader.port)
        endpoints.addresses = [address]
        return endpoints
    }

    /// The endpoints a client says it dialled are echoed back in routes: a few, with short hosts.
    static func checkEndpoints(_ endpoints: Apache_Rocketmq_V2_Endpoints) throws(ProtocolRefusal) {
        guard endpoints.addresses.count <= WireLimits.endpointAddresses else {
            throw ProtocolRefusal(
                .illegalAccessPoint,
                "endpoints has \(endpoints.addresses.count) addresses; the limit is \(WireLimits.endpointAddresses)")
        }
        for address in endpoints.addresses {
            try WireCheck.length(address.host, atMost: WireLimits.hostBytes, field: "endpoints host", code: .illegalAccessPoint)
            guard (0...65535).contains(address.port) else {
                throw ProtocolRefusal(.illegalAccessPoint, "endpoints port is \(address.port); it must be 0 to 65535")
            }
        }
    }

    /// - Throws: ILLEGAL_TOPIC for a malformed name, TOPIC_NOT_FOUND (40402) naming the topic, or INTERNAL_ERROR while starting.
    func existingTopic(_ name: String) async throws(ProtocolRefusal) -> TopicDefinition {
        guard let registry = handle.topics else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        try WireCheck.topicName(name)
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
