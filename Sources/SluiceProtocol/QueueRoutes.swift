import Synchronization

/// With several broker groups (`--etcd`, docs/architecture.md §13): which broker group serves each
/// queue of a routed topic, and where each group's leader takes requests. The cluster service
/// keeps it current from etcd's route table and leader keys (read once, then watched); sends and
/// route queries read only this copy, under a lock, never etcd.
///
/// A topic without a route here (no `--etcd`, or none stored) is served as on a single broker:
/// every queue here.
public final class QueueRoutes: Sendable {
    public typealias Endpoint = GroupLeaderAddress.Endpoint

    /// One routed topic as a send or a route query sees it.
    struct Routed: Sendable, Hashable {
        /// queue id → broker group.
        var queues: [Int: String]
        /// Every group's leader endpoint known now.
        var leaders: [String: Endpoint]
        var localGroup: String
        /// This broker's group's queues, in id order (worked out when the route is set, not per send).
        var owned: [Int]
    }

    private struct Route {
        var queues: [Int: String]
        var owned: [Int]

        init(_ queues: [Int: String], localGroup: String) {
            self.queues = queues
            self.owned = queues.filter { $0.value == localGroup }.keys.sorted()
        }
    }

    private struct State {
        var topics: [String: Route] = [:]
        var leaders: [String: Endpoint] = [:]
    }

    /// The broker group this broker belongs to (`--broker-group`).
    public let localGroup: String
    private let state = Mutex(State())

    public init(localGroup: String) {
        self.localGroup = localGroup
    }

    /// Replaces every route: topic → (queue id → broker group).
    public func replaceRoutes(_ topics: [String: [Int: String]]) {
        let routes = topics.mapValues { Route($0, localGroup: localGroup) }
        state.withLock { $0.topics = routes }
    }

    /// Sets (or with nil removes) one topic's route.
    public func setRoute(topic: String, queues: [Int: String]?) {
        let route = queues.map { Route($0, localGroup: localGroup) }
        state.withLock { $0.topics[topic] = route }
    }

    /// Replaces the leaders: broker group → gRPC address as registered (`host:port`, `[v6]:port`).
    /// Unparsable addresses are left out (their groups' queues read as unreachable).
    public func replaceLeaders(_ addresses: [String: String]) {
        let endpoints = addresses.compactMapValues(GroupLeaderAddress.parse)
        state.withLock { $0.leaders = endpoints }
    }

    /// The route of `topic`, or nil when it has none (served here as on a single broker).
    func routed(_ topic: String) -> Routed? {
        state.withLock { state in
            state.topics[topic].map {
                Routed(queues: $0.queues, leaders: state.leaders, localGroup: localGroup, owned: $0.owned)
            }
        }
    }

    /// Every broker group known now (with a leader, named by a route, or this one), by name,
    /// with the leaders known: what a dead-letter queue's route spans (one queue per group).
    func allGroups() -> (groups: [String], leaders: [String: Endpoint]) {
        state.withLock { state in
            var groups = Set(state.leaders.keys)
            groups.insert(localGroup)
            for route in state.topics.values { groups.formUnion(route.queues.values) }
            return (groups.sorted(), state.leaders)
        }
    }

    /// Queues routed to each broker group, over every topic.
    public var routedQueues: [String: Int] {
        state.withLock { state in
            state.topics.values.reduce(into: [:]) { counts, route in
                for group in route.queues.values { counts[group, default: 0] += 1 }
            }
        }
    }
}
