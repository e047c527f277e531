import Synchronization

/// What a broker knows of the cluster's routing, kept in memory: every topic's route and every
/// broker group's leader. Sends and route queries read this copy, never etcd.
public struct RoutingView: Sendable, Hashable {
    public var routes: [String: TopicRoute] = [:]
    public var leaders: [String: LeaderRecord] = [:]

    public init(routes: [String: TopicRoute] = [:], leaders: [String: LeaderRecord] = [:]) {
        self.routes = routes
        self.leaders = leaders
    }

    /// How many queues, over every topic, each broker group serves.
    public var routedQueues: [String: Int] {
        routes.values.reduce(into: [:]) { counts, route in
            for (group, count) in route.queueCounts { counts[group, default: 0] += count }
        }
    }
}

/// Follows the route table (`<root>/routes/`) and the leader keys (`<root>/groups/<g>/leader`):
/// one read of each, then their Watch from the revision the read saw, so nothing in between is
/// missed and nothing is read again.
public struct RouteFollower: Sendable {
    public let client: EtcdClient
    public let keys: ClusterKeys

    public init(client: EtcdClient, keys: ClusterKeys = ClusterKeys()) {
        self.client = client
        self.keys = keys
    }

    /// Reads the routes and leaders, calls `onChange` with the view (change nil), then with the
    /// view after every change: a route update or removal (the change) or a leader change (nil).
    /// Runs until a watch ends: it throws then (`.unavailable`, `.watchCanceled`, or `.cancelled`
    /// when the task is cancelled). Call it again to start over; the new read replaces the view.
    /// - Throws: `EtcdError`, or a malformed stored value's `.malformedValue`.
    public func run(onChange: @escaping @Sendable (RoutingView, RouteChange?) -> Void) async throws {
        let table = RouteTable(client: client, keys: keys)
        let (routes, routesRevision) = try await table.all()
        let (leaderValues, leadersRevision) = try await client.list(prefix: keys.groupsPrefix)
        var initial = RoutingView()
        for route in routes { initial.routes[route.topic] = route }
        for value in leaderValues {
            guard let group = Self.group(ofLeaderKey: value.key, keys: keys) else { continue }
            initial.leaders[group] = try StoredJSON.decode(LeaderRecord.self, from: value)
        }
        let view = SharedView(initial)
        onChange(initial, nil)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for try await change in table.watch(after: routesRevision) {
                    let now = view.state.withLock { view in
                        switch change {
                        case .updated(let route): view.routes[route.topic] = route
                        case .removed(let topic): view.routes[topic] = nil
                        }
                        return view
                    }
                    onChange(now, change)
                }
            }
            tasks.addTask {
                for try await events in client.watch(keys.groupsPrefix, prefix: true, startRevision: leadersRevision + 1) {
                    var changed = false
                    for event in events {
                        guard let group = Self.group(ofLeaderKey: event.keyValue.key, keys: keys) else { continue }
                        var leader: LeaderRecord?
                        if event.kind == .put { leader = try StoredJSON.decode(LeaderRecord.self, from: event.keyValue) }
                        view.state.withLock { [leader] in $0.leaders[group] = leader }
                        changed = true
                    }
                    if changed { onChange(view.state.withLock { $0 }, nil) }
                }
            }
            defer { tasks.cancelAll() }
            // The first watch to end ends the round.
            _ = try await tasks.next()
            throw EtcdError(.cancelled, "following the routes ended")
        }
    }

    /// `g` for `<root>/groups/g/leader`; nil for any other key (the epoch keys).
    public static func group(ofLeaderKey key: String, keys: ClusterKeys) -> String? {
        guard key.hasPrefix(keys.groupsPrefix), key.hasSuffix("/leader") else { return nil }
        let group = key.dropFirst(keys.groupsPrefix.count).dropLast("/leader".count)
        return group.isEmpty || group.contains("/") ? nil : String(group)
    }
}

/// The view both watch tasks change (a class: a task captures it by reference).
private final class SharedView: Sendable {
    let state: Mutex<RoutingView>

    init(_ view: RoutingView) { state = Mutex(view) }
}
