/// Where a cluster broker (`--etcd`) records which broker group serves each queue of a topic
/// (etcd's route table, docs/architecture.md §13). The broker executable implements it; this
/// module does not speak etcd.
public protocol TopicRouteWriter: Sendable {
    /// Stores the route of a topic created here unless the topic has one (routes that exist stay
    /// put), and makes this broker serve it at once.
    /// - Throws: `BrokerError` `.clusterUnavailable` when etcd cannot be reached or refuses.
    func assignQueues(topic: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError)

    /// Removes the topic's route; every broker following the table deletes its part of the topic.
    /// - Throws: `BrokerError` `.clusterUnavailable` when etcd cannot be reached or refuses.
    func removeRoute(topic: String) async throws(BrokerError)
}

/// The topic registry of a cluster broker: a create (admin API, `sluice topic create`) first
/// assigns the topic's queues to broker groups in the route table, then creates the topic here; a
/// delete first removes the route, then the topic. The other brokers create (or delete) the topic
/// from the route they follow, by calling `local` directly so that nothing is routed twice.
///
/// Either order keeps a failure harmless: a route written for a create that then fails is
/// applied by the brokers following it (this one included); a delete whose route removal fails
/// changes nothing (a topic deleted while its route stayed would be created again from it).
public final class RoutedTopicRegistry: TopicRegistry {
    public let local: any TopicRegistry
    let routes: any TopicRouteWriter

    public init(local: any TopicRegistry, routes: any TopicRouteWriter) {
        self.local = local
        self.routes = routes
    }

    public func topic(named name: String) async throws(BrokerError) -> TopicDefinition? {
        try await local.topic(named: name)
    }

    public func list() async throws(BrokerError) -> [TopicDefinition] {
        try await local.list()
    }

    public func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) -> TopicDefinition {
        try TopicName.validate(name)
        try TopicDefinition.validateQueueCount(queueCount)
        if let existing = try await local.topic(named: name),
            existing.messageType != type || existing.queueCount != queueCount
        {
            // The local table names the difference (`.topicExists`); no route is written.
            return try await local.create(name: name, type: type, queueCount: queueCount)
        }
        try await routes.assignQueues(topic: name, type: type, queueCount: queueCount)
        return try await local.create(name: name, type: type, queueCount: queueCount)
    }

    public func delete(named name: String) async throws(BrokerError) -> Bool {
        guard try await local.topic(named: name) != nil else { return false }
        try await routes.removeRoute(topic: name)
        return try await local.delete(named: name)
    }
}
