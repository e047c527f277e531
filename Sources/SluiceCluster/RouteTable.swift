import EtcdWire

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
    /// The topic's message type as `sluice topic create --type` spells it (`normal`, `fifo`, ...),
    /// so a broker that learns the route can create the topic locally; absent in routes written
    /// before brokers created topics from routes.
    public var messageType: String?

    public init(topic: String, queues: [Queue], messageType: String? = nil) {
        self.topic = topic
        self.queues = queues
        self.messageType = messageType
    }

    /// The broker group serving `queueID`; nil when the route does not name that queue.
    public func group(ofQueue queueID: Int) -> String? {
        queues.first { $0.queueID == queueID }?.brokerGroup
    }

    /// How many queues each broker group serves.
    public var queueCounts: [String: Int] {
        queues.reduce(into: [:]) { counts, queue in counts[queue.brokerGroup, default: 0] += 1 }
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
        try Self.check(route)
        try await client.put(keys.route(ofTopic: route.topic), StoredJSON.encode(route))
    }

    /// Stores `route` unless the topic has one already (one Txn: create-if-absent), so routes that
    /// exist stay put. Returns the route the topic has after the call and whether it is `route`.
    /// - Throws: as `put`.
    public func createIfAbsent(_ route: TopicRoute) async throws(EtcdError) -> (route: TopicRoute, created: Bool) {
        try Self.check(route)
        let key = keys.route(ofTopic: route.topic)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [.absent(key)]
        txn.success = [.put(key, StoredJSON.encode(route))]
        txn.failure = [.get(key)]
        let response = try await client.transaction(txn, "create the route of \(route.topic)")
        if response.succeeded { return (route, true) }
        guard let held = response.responses.first?.responseRange.kvs.first else {
            // Removed between the compare and the read: let the caller retry.
            throw EtcdError(.rejected, "the route of \(route.topic) changed during its creation; retry")
        }
        return (try StoredJSON.decode(TopicRoute.self, from: EtcdKeyValue(held)), false)
    }

    static func check(_ route: TopicRoute) throws(EtcdError) {
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
