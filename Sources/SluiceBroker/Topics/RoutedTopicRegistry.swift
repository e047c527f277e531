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

/// The topic registry of a cluster broker: a create (admin API, `sluice topic create`) creates
/// the topic here, then assigns its queues to broker groups in the route table (a failed route
/// write deletes the new topic again and fails the create); a delete first removes the route,
/// then the topic (a topic deleted while its route stayed would be created again from it). The
/// other brokers create or delete the topic from the route they follow, by calling `local`
/// directly so that nothing is routed twice.
///
/// Between the local create and the route write, sends to the new topic are served as on a
/// single broker (every queue here); a crash in between leaves an unrouted topic, which a repeat
/// of the create routes.
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
        let existed = try await local.topic(named: name)
        // A different topic of that name is refused by the table (`.topicExists` names the
        // difference), a follower of a replicated group refuses with `.notLeader`: both before any
        // route is written.
        let topic = try await local.create(name: name, type: type, queueCount: queueCount)
        do throws(BrokerError) {
            // An identical repeat routes again: harmless (an existing route stays), and how a
            // topic made before its route could be written gets one.
            try await routes.assignQueues(topic: name, type: type, queueCount: queueCount)
        } catch {
            if existed == nil { _ = try? await local.delete(named: name) }
            throw error
        }
        return topic
    }

    public func delete(named name: String) async throws(BrokerError) -> Bool {
        guard try await local.topic(named: name) != nil else { return false }
        try await routes.removeRoute(topic: name)
        // The route follower may delete it first (it sees the removal too): deleted either way.
        _ = try await local.delete(named: name)
        return true
    }
}
