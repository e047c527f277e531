/// Which broker group serves each queue of a topic.
public struct TopicRoute: Codable, Sendable, Hashable {
    public struct Queue: Codable, Sendable, Hashable {
        public var queueID: Int
        public var brokerGroup: String

        public init(queueID: Int, brokerGroup: String) {
            self.queueID = queueID
            self.brokerGroup = brokerGroup
        }
    }

    public var topic: String
    public var queues: [Queue]

    public init(topic: String, queues: [Queue]) {
        self.topic = topic
        self.queues = queues
    }
}

/// One change to the route table.
public enum RouteChange: Sendable, Hashable {
    case updated(TopicRoute)
    case removed(topic: String)
}

/// The route table, topic → queues → broker group, one key per topic under `<root>/routes/`.
/// Brokers and tools read it once and then follow it with `watch`; messages never consult etcd.
public struct RouteTable: Sendable {
    /// Queues per topic at most: RocketMQ's own limit on a topic's queue count is far lower; this
    /// bounds what one stored route can make a reader allocate.
    public static let maxQueues = 1024

    public let client: EtcdClient
    public let keys: ClusterKeys

    public init(client: EtcdClient, keys: ClusterKeys = ClusterKeys()) {
        self.client = client
        self.keys = keys
    }

    /// Stores `route` (replacing the topic's previous one).
    /// - Throws: `.invalidArgument` for a bad topic or group name, no queues, too many, or a
    ///   queue id twice.
    public func put(_ route: TopicRoute) async throws(EtcdError) {
        try ClusterKeys.checkSegment(route.topic, "topic")
        guard !route.queues.isEmpty, route.queues.count <= Self.maxQueues else {
            throw EtcdError(.invalidArgument, "route of \(route.topic): 1 to \(Self.maxQueues) queues; got \(route.queues.count)")
        }
        guard Set(route.queues.map(\.queueID)).count == route.queues.count else {
            throw EtcdError(.invalidArgument, "route of \(route.topic): a queue id appears twice")
        }
        for queue in route.queues {
            try ClusterKeys.checkSegment(queue.brokerGroup, "broker group of queue \(queue.queueID)")
            guard queue.queueID >= 0 else {
                throw EtcdError(.invalidArgument, "route of \(route.topic): queue id \(queue.queueID) is negative")
            }
        }
        try await client.put(keys.route(ofTopic: route.topic), StoredJSON.encode(route))
    }

    public func route(of topic: String) async throws(EtcdError) -> TopicRoute? {
        try ClusterKeys.checkSegment(topic, "topic")
        let (value, _) = try await client.get(keys.route(ofTopic: topic))
        return try value.map { kv throws(EtcdError) in try StoredJSON.decode(TopicRoute.self, from: kv) }
    }

    @discardableResult
    public func remove(_ topic: String) async throws(EtcdError) -> Bool {
        try ClusterKeys.checkSegment(topic, "topic")
        return try await client.delete(keys.route(ofTopic: topic)) > 0
    }

    /// Every route and the revision the read saw (pass it to `watch(after:)`).
    public func all() async throws(EtcdError) -> (routes: [TopicRoute], revision: Int64) {
        let (values, revision) = try await client.list(prefix: keys.routesPrefix)
        var routes: [TopicRoute] = []
        for value in values { routes.append(try StoredJSON.decode(TopicRoute.self, from: value)) }
        return (routes, revision)
    }

    /// The changes after `revision`, in order.
    public func watch(after revision: Int64) -> AsyncThrowingStream<RouteChange, any Error> {
        let prefix = keys.routesPrefix
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RouteChange.self)
        let task = Task { [client] in
            do {
                for try await events in client.watch(prefix, prefix: true, startRevision: revision + 1) {
                    for event in events {
                        switch event.kind {
                        case .put: continuation.yield(.updated(try StoredJSON.decode(TopicRoute.self, from: event.keyValue)))
                        case .delete: continuation.yield(.removed(topic: String(event.keyValue.key.dropFirst(prefix.count))))
                        }
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
