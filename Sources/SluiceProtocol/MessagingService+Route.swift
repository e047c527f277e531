import SluiceBroker
import SluiceWire

extension MessagingService {
    /// The topic's queues, all on this broker, reachable at the endpoints the client dialled (so
    /// port mappings and host names keep working) — or, in a replicated broker group, at its
    /// leader's registered address, since only the leader takes appends. A topic the route table
    /// spreads over several broker groups names each queue's group and that group's leader.
    func route(for request: Apache_Rocketmq_V2_QueryRouteRequest) async throws(ProtocolRefusal)
        -> [Apache_Rocketmq_V2_MessageQueue]
    {
        let name = request.topic.name
        let routes = configuration.queueRoutes
        let spreadDeadLetters = try isSpreadDeadLetterTopic(name)
        let topic: TopicDefinition
        if spreadDeadLetters {
            topic = Self.spreadDeadLetterDefinition(name)
        } else {
            topic = try await existingTopic(name)
        }
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
        if spreadDeadLetters, let routes {
            return Self.deadLetterQueues(request.topic, topic, routes.allGroups(), localGroup: routes.localGroup, localEndpoints: endpoints)
        }
        if let routed = routes?.routed(name) {
            return Self.routedQueues(request.topic, topic, routed, localEndpoints: endpoints)
        }
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

    /// A routed topic's queues (docs/architecture.md §13): each names its broker group as the
    /// broker name and that group's leader as its endpoints, so the official clients send each
    /// queue's messages to the broker that serves it. This broker's own group's queues use
    /// `localEndpoints` while its leader is unknown; another group's queue whose leader is unknown
    /// has no permission (clients skip it) until one is elected.
    static func routedQueues(
        _ resource: Apache_Rocketmq_V2_Resource, _ topic: TopicDefinition, _ routed: QueueRoutes.Routed,
        localEndpoints: Apache_Rocketmq_V2_Endpoints
    ) -> [Apache_Rocketmq_V2_MessageQueue] {
        routed.queues.keys.sorted().map { queueId in
            let group = routed.queues[queueId] ?? routed.localGroup
            var queue = Apache_Rocketmq_V2_MessageQueue()
            queue.topic = resource
            queue.id = Int32(clamping: queueId)
            queue.broker.name = group
            queue.broker.id = 0
            queue.acceptMessageTypes = [topic.messageType.wireType]
            if let leader = routed.leaders[group] {
                queue.permission = .readWrite
                queue.broker.endpoints = endpoints(of: leader)
            } else {
                queue.permission = group == routed.localGroup ? .readWrite : .none
                queue.broker.endpoints = localEndpoints
            }
            return queue
        }
    }

    /// With several broker groups, every group keeps its own dead-letter queue for a consumer
    /// group: the one queue of `%DLQ%<group>` on the broker that gave up on the message. The
    /// route names that queue of every broker group — queue 0 each, told apart by broker name,
    /// as RocketMQ lists each broker's DLQ queue — read-only, at each group's leader. A group
    /// without a known leader is listed without permission, like a routed topic's queue
    /// (clients skip it until one is elected).
    static func deadLetterQueues(
        _ resource: Apache_Rocketmq_V2_Resource, _ topic: TopicDefinition,
        _ known: (groups: [String], leaders: [String: GroupLeaderAddress.Endpoint]), localGroup: String,
        localEndpoints: Apache_Rocketmq_V2_Endpoints
    ) -> [Apache_Rocketmq_V2_MessageQueue] {
        known.groups.map { group in
            var queue = Apache_Rocketmq_V2_MessageQueue()
            queue.topic = resource
            queue.id = 0
            queue.broker.name = group
            queue.broker.id = 0
            queue.acceptMessageTypes = [topic.messageType.wireType]
            if let leader = known.leaders[group] {
                queue.permission = .read
                queue.broker.endpoints = endpoints(of: leader)
            } else {
                queue.permission = group == localGroup ? .read : .none
                queue.broker.endpoints = localEndpoints
            }
            return queue
        }
    }

    /// Whether `name` is a dead-letter topic (`%DLQ%<consumer group>`, of a well-formed group
    /// name) spread over several broker groups (`queueRoutes` set). One of them may hold dead
    /// letters of a consumer group this broker never served, so the name alone decides
    /// (nothing is created for it). False on a broker without routes.
    /// - Throws: ILLEGAL_TOPIC for a malformed name.
    func isSpreadDeadLetterTopic(_ name: String) throws(ProtocolRefusal) -> Bool {
        guard configuration.queueRoutes != nil else { return false }
        try WireCheck.topicName(name)
        guard let group = ConsumerGroup.groupOfDeadLetterTopic(name) else { return false }
        return (try? ConsumerGroup.validateName(group)) != nil
    }

    /// A dead-letter topic as a route or a receive sees it when this broker group may hold
    /// none of its messages: the definition its group's would have.
    static func spreadDeadLetterDefinition(_ name: String) -> TopicDefinition {
        let group = ConsumerGroup.groupOfDeadLetterTopic(name) ?? name
        return ConsumptionEngine.deadLetterDefinition(ConsumerGroup(name: group, createdAtMs: 0))
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
