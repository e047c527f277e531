import Logging
import Synchronization
import SluiceWire

extension ClientRuntime {
    /// The route of `topic`, from the cache or asked of the broker.
    /// - Throws: `brokerRejected` with TOPIC_NOT_FOUND (40402) for an unknown topic.
    func route(_ topic: String) async throws(SluiceClientError) -> [Apache_Rocketmq_V2_MessageQueue] {
        if let cached = state.withLock({ $0.routes[topic] }) { return cached }
        return try await queryRoute(topic)
    }

    @discardableResult
    func queryRoute(_ topic: String) async throws(SluiceClientError) -> [Apache_Rocketmq_V2_MessageQueue] {
        var request = Apache_Rocketmq_V2_QueryRouteRequest()
        request.topic = WireMessage.resource(topic, namespace: configuration.namespace)
        request.endpoints = accessPoint
        let response = try await rpc("QueryRoute") {
            try await stub.queryRoute(request, metadata: metadata, options: callOptions())
        }
        try check(response.status, "route of topic \(topic)")
        // Only master queues (broker id 0) are used, as in the official clients.
        let queues = response.messageQueues.filter { $0.broker.id == 0 }
        if queues.isEmpty {
            throw SluiceClientError(code: .unexpectedResponse, message: "route of topic \(topic) has no usable queue")
        }
        state.withLock { state in
            state.routes[topic] = queues
            if state.topics[topic] == nil { state.topics[topic] = "*" }
        }
        return queues
    }

    /// Refreshes every cached route; a failed refresh keeps the old route.
    func refreshRoutes() async {
        let topics = state.withLock { Array($0.routes.keys) }
        for topic in topics {
            do {
                try await queryRoute(topic)
            } catch {
                logger.info("route refresh failed; keeping the cached route", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
    }

    /// The next readable queue of `topic`, round-robin (consumers).
    func nextReadableQueue(_ topic: String) async throws(SluiceClientError) -> Apache_Rocketmq_V2_MessageQueue {
        let readable = try await route(topic).filter { [.read, .readWrite].contains($0.permission) }
        guard !readable.isEmpty else {
            throw SluiceClientError(code: .unexpectedResponse, message: "topic \(topic) has no readable queue")
        }
        let index = state.withLock { state -> Int in
            state.roundRobin &+= 1
            return state.roundRobin
        }
        return readable[Int(UInt(bitPattern: index) % UInt(readable.count))]
    }
}
