import Logging
import Metrics
import SluiceBroker
import SluiceCluster
import SluiceProtocol
import SluiceTransactions
import Synchronization

/// The route table's part of a cluster broker (`--etcd`, docs/architecture.md §13):
///
/// - follows the routes and the groups' leaders in memory (`RouteFollower`: one read, then Watch)
///   and publishes them to the gRPC service (`QueueRoutes`), so QueryRoute names each queue's
///   group leader and a send for another group's queue is refused — without reading etcd;
/// - assigns a new topic's queues to the groups (`QueueAssignment`) and stores the route
///   (`TopicRouteWriter`, called by `RoutedTopicRegistry` on an admin create);
/// - creates here the topics of routes it learns (so every broker can answer QueryRoute and
///   take sends for its own queues) and deletes those whose route is removed;
/// - publishes `sluice_cluster_routed_queues{group}`.
final class ClusterRouting: TopicRouteWriter, Sendable {
    let keys: ClusterKeys
    let ownGroup: String
    let queueRoutes: QueueRoutes
    private let handle: BrokerHandle
    private let logger: Logger
    private let client = Mutex<EtcdClient?>(nil)
    private let view = Mutex<RoutingView?>(nil)
    /// `sluice_cluster_routed_queues` per group seen (set to 0 when its last queue goes).
    private let gauges = Mutex<[String: Gauge]>([:])
    /// Route changes and ticks for the task that creates and deletes local topics.
    private let changes: AsyncStream<RouteChange?>
    private let changesContinuation: AsyncStream<RouteChange?>.Continuation
    /// Topics whose local definition differs from their route (warned once each).
    private let warned = Mutex<Set<String>>([])
    /// Which topics were routed, so a route removed while this broker did not watch still
    /// deletes its topic here.
    let memory: RoutedTopicMemory

    init(ownGroup: String, keys: ClusterKeys, handle: BrokerHandle, memory: RoutedTopicMemory, logger: Logger) {
        self.memory = memory
        self.ownGroup = ownGroup
        self.keys = keys
        self.handle = handle
        self.logger = logger
        queueRoutes = QueueRoutes(localGroup: ownGroup)
        (changes, changesContinuation) = AsyncStream.makeStream(of: RouteChange?.self)
    }

    /// The routing view as last read or watched; nil before the first read.
    var current: RoutingView? { view.withLock { $0 } }

    /// Follows the routes with `client` until cancelled; a broken watch starts over after a second.
    func follow(client: EtcdClient) async {
        self.client.withLock { $0 = client }
        defer { self.client.withLock { $0 = nil } }
        let follower = RouteFollower(client: client, keys: keys)
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await self.applyToLocalTopics() }
            tasks.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(2))
                    self.changesContinuation.yield(nil)
                }
            }
            while !Task.isCancelled {
                // The first view of a run is a fresh read: it replaces every route.
                let fresh = FirstCall()
                do {
                    try await follower.run { view, change in
                        self.apply(view, change, replacingRoutes: fresh.take())
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("following the route table interrupted; reading it again", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            tasks.cancelAll()
        }
    }

    /// Publishes a view: the whole route table after a fresh read, else the one changed route
    /// (a route stored by `assignQueues` is served before its watch event arrives, and a leader
    /// change must not drop it meanwhile).
    private func apply(_ view: RoutingView, _ change: RouteChange?, replacingRoutes: Bool) {
        self.view.withLock { $0 = view }
        switch change {
        case .updated(let route):
            queueRoutes.setRoute(topic: route.topic, queues: Self.queues(route))
            memory.routed(route.topic)
        case .removed(let topic):
            queueRoutes.setRoute(topic: topic, queues: nil)
            memory.routeRemoved(topic)
        case nil:
            if replacingRoutes {
                queueRoutes.replaceRoutes(view.routes.mapValues(Self.queues))
                // A fresh read: routes removed while nobody here watched show up only as missing.
                memory.tableRead(routedTopics: Set(view.routes.keys))
            }
        }
        queueRoutes.replaceLeaders(view.leaders.mapValues(\.grpcAddress))
        publishGauges(view.routedQueues)
        changesContinuation.yield(change)
    }

    static func queues(_ route: TopicRoute) -> [Int: String] {
        Dictionary(route.queues.map { ($0.queueID, $0.brokerGroup) }, uniquingKeysWith: { first, _ in first })
    }

    private func publishGauges(_ counts: [String: Int]) {
        gauges.withLock { gauges in
            for group in counts.keys where gauges[group] == nil {
                gauges[group] = Gauge(label: "sluice_cluster_routed_queues", dimensions: [("group", group)])
            }
            for (group, gauge) in gauges { gauge.record(counts[group] ?? 0) }
        }
    }

    // MARK: TopicRouteWriter

    func assignQueues(topic: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) {
        guard let client = client.withLock({ $0 }) else {
            throw BrokerError(.clusterUnavailable, "topic \(topic): not connected to etcd yet, so its queues cannot be routed; retry")
        }
        do {
            // The leaders as etcd holds them now (one read per create, not the followed copy, which
            // may lag a group that was just elected).
            let (values, _) = try await client.list(prefix: keys.groupsPrefix)
            let leaders = values.compactMap { RouteFollower.group(ofLeaderKey: $0.key, keys: keys) }
            let groups = QueueAssignment.candidates(leaders: leaders, ownGroup: ownGroup)
            let route = QueueAssignment.route(topic: topic, queueCount: queueCount, messageType: type.rawValue, groups: groups)
            let (stored, created) = try await RouteTable(client: client, keys: keys).createIfAbsent(route)
            // Served at once here; the watch brings the same route a moment later.
            queueRoutes.setRoute(topic: topic, queues: Self.queues(stored))
            logger.info(
                created ? "topic routed" : "topic already routed",
                metadata: ["topic": "\(topic)", "groups": "\(stored.queueCounts.sorted { $0.key < $1.key })"])
        } catch {
            throw BrokerError(
                .clusterUnavailable, "topic \(topic): its route could not be stored in etcd: \(error.message)", cause: error)
        }
    }

    func removeRoute(topic: String) async throws(BrokerError) {
        guard let client = client.withLock({ $0 }) else {
            throw BrokerError(.clusterUnavailable, "topic \(topic): not connected to etcd yet, so its route cannot be removed; retry")
        }
        do {
            try await RouteTable(client: client, keys: keys).remove(topic)
            queueRoutes.setRoute(topic: topic, queues: nil)
        } catch {
            throw BrokerError(
                .clusterUnavailable, "topic \(topic): its route could not be removed from etcd: \(error.message)", cause: error)
        }
    }

    // MARK: local topics

    /// Creates the topics of known routes that this broker lacks, and deletes the topics whose
    /// route was removed (and not stored again since) — seen removed by the watch, or missing
    /// from a fresh read of the table while `memory` knows they were routed (removed while this
    /// broker was down or its watch broken). Runs on every change and every 2 s, so a store that
    /// opens late or a follower promoted to leader catches up.
    private func applyToLocalTopics() async {
        for await _ in changes {
            guard let published = handle.topics, let view = current else { continue }
            // Past the routing layer: these changes come from the table and must not be routed again.
            let local = (published as? RoutedTopicRegistry)?.local ?? published
            for topic in memory.pendingRemovals.sorted() {
                await deleteLocally(topic, routedNow: view.routes[topic] != nil, in: local)
            }
            for route in view.routes.values {
                await createLocally(route, in: local)
            }
        }
    }

    private func deleteLocally(_ topic: String, routedNow: Bool, in local: any TopicRegistry) async {
        if routedNow {
            memory.removalCancelled(topic)
            return
        }
        // The broker where the delete was asked refused it while it had undecided transactions
        // of the topic; this one checks its own: their half messages would have nowhere to
        // commit to. The topic stays here (unrouted: served on this broker alone) until they are
        // decided, by their producers, the checker or an operator; retried every tick.
        let heldHere: Bool
        do throws(BrokerError) {
            heldHere = try await local.topic(named: topic) != nil
        } catch {
            return  // retried on the next tick
        }
        if !heldHere {
            memory.removalDone(topic)
            return
        }
        if let undecided = await undecidedTransaction(of: topic) {
            if warned.withLock({ $0.insert("undecided " + topic).inserted }) {
                logger.warning(
                    "topic of a removed route kept while it has undecided transactions; resolve them to let it go",
                    metadata: ["topic": "\(topic)", "state": "\(undecided)", "find": "sluice txn list --topic \(topic) --state \(undecided)"])
            }
            return
        }
        do throws(BrokerError) {
            if try await local.delete(named: topic) {
                logger.notice("topic deleted: its route was removed", metadata: ["topic": "\(topic)"])
            }
            memory.removalDone(topic)
        } catch {
            // A follower of a replicated group refuses: its leader deletes the topic and the log
            // brings the delete here, after which `delete` finds nothing. Retried every tick.
            if error.code != .notLeader, warned.withLock({ $0.insert(topic).inserted }) {
                logger.warning("topic of a removed route not deleted", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
    }

    /// The state of one prepared or parked transaction of `topic` here, if there is one.
    private func undecidedTransaction(of topic: String) async -> TransactionState? {
        guard let coordinator = handle.coordinator else { return nil }
        // Young halves wait in memory (`--transaction-hold`): written first, so the table sees them.
        await coordinator.flushDeferredHalves(all: true)
        for state in [TransactionState.prepared, .parked] {
            do throws(TransactionStoreError) {
                let page = try await coordinator.store.list(filter: TransactionFilter(state: state, topic: topic), limit: 1)
                if !page.records.isEmpty { return state }
            } catch {
                // Unknown is not "none": keep the topic and ask again on the next tick.
                return state
            }
        }
        return nil
    }

    private func createLocally(_ route: TopicRoute, in local: any TopicRegistry) async {
        let type = route.messageType.flatMap(TopicMessageType.init(rawValue:)) ?? .normal
        let queueCount = (route.queues.map(\.queueID).max() ?? 0) + 1
        do throws(BrokerError) {
            if let existing = try await local.topic(named: route.topic) {
                if existing.messageType != type || existing.queueCount != queueCount,
                    warned.withLock({ $0.insert(route.topic).inserted })
                {
                    logger.warning(
                        "topic differs from its route; serving the local definition",
                        metadata: [
                            "topic": "\(route.topic)", "local": "\(existing.messageType) \(existing.queueCount)",
                            "route": "\(type) \(queueCount)",
                        ])
                }
                return
            }
            _ = try await local.create(name: route.topic, type: type, queueCount: queueCount)
            logger.notice("topic created from its route", metadata: ["topic": "\(route.topic)"])
        } catch {
            // A follower of a replicated group refuses (its leader creates it, and the log brings
            // it here); anything else is retried on the next tick.
            if error.code != .notLeader, warned.withLock({ $0.insert(route.topic).inserted }) {
                logger.warning("topic of a route not created", metadata: ["topic": "\(route.topic)", "error": "\(error)"])
            }
        }
    }
}

/// True on the first `take()`, false after.
private final class FirstCall: Sendable {
    private let first = Mutex(true)

    func take() -> Bool {
        first.withLock { first in
            defer { first = false }
            return first
        }
    }
}
