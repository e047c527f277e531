import SluiceCluster
import SluiceTesting
import Synchronization
import Testing

@Suite("following the route table and the groups' leaders over a real etcd", .serialized)
struct RouteFollowerTests {
    static func route(_ topic: String, _ groups: [String]) -> TopicRoute {
        TopicRoute(
            topic: topic, queues: groups.enumerated().map { .init(queueID: $0.offset, brokerGroup: $0.element) },
            messageType: "normal")
    }

    @Test("the first view holds what is stored; then every route update, removal and leader change arrives")
    func followsRoutesAndLeaders() async throws {
        try await withEtcd { _, client in
            let keys = ClusterKeys()
            let table = RouteTable(client: client)
            let first = Self.route("orders", ["g1", "g2", "g1", "g2"])
            try await table.put(first)
            let leaderG1 = LeaderRecord(nodeID: "a", epoch: 1, grpcAddress: "127.0.0.1:9001")
            let leaderG2 = LeaderRecord(nodeID: "b", epoch: 3, grpcAddress: "127.0.0.1:9002")
            try await client.put(keys.leader(ofGroup: "g1"), Array(#"{"epoch":1,"grpcAddress":"127.0.0.1:9001","nodeID":"a"}"#.utf8))
            try await client.put(keys.epoch(ofGroup: "g1"), Array("1".utf8))

            let views = Mutex<[RoutingView]>([])
            let changes = Mutex<[RouteChange]>([])
            let follower = Task {
                try await RouteFollower(client: client, keys: keys).run { view, change in
                    views.withLock { $0.append(view) }
                    if let change { changes.withLock { $0.append(change) } }
                }
            }
            defer { follower.cancel() }
            #expect(await eventually(timeout: .seconds(10)) { !views.withLock { $0 }.isEmpty })
            let initial = try #require(views.withLock { $0.first })
            #expect(initial.routes == ["orders": first])
            #expect(initial.leaders == ["g1": leaderG1])
            #expect(initial.routedQueues == ["g1": 2, "g2": 2])

            let second = Self.route("payments", ["g2"])
            try await table.put(second)
            try await client.put(keys.leader(ofGroup: "g2"), Array(#"{"epoch":3,"grpcAddress":"127.0.0.1:9002","nodeID":"b"}"#.utf8))
            #expect(try await table.remove("orders"))
            _ = try await client.delete(keys.leader(ofGroup: "g1"))
            let expected = RoutingView(routes: ["payments": second], leaders: ["g2": leaderG2])
            let settled = await eventually(timeout: .seconds(10)) { views.withLock { $0.last } == expected }
            #expect(settled, "\(String(describing: views.withLock { $0.last }))")
            #expect(changes.withLock { $0 } == [.updated(second), .removed(topic: "orders")])
            #expect(expected.routedQueues == ["g2": 1])
        }
    }

    @Test("createIfAbsent keeps a route that exists: the second create answers the first route")
    func existingRoutesStayPut() async throws {
        try await withEtcd { _, client in
            let table = RouteTable(client: client)
            let original = QueueAssignment.route(topic: "t", queueCount: 4, messageType: "normal", groups: ["g1"])
            let (stored, created) = try await table.createIfAbsent(original)
            #expect(created && stored == original)
            let spread = QueueAssignment.route(topic: "t", queueCount: 4, messageType: "normal", groups: ["g1", "g2"])
            let (kept, createdAgain) = try await table.createIfAbsent(spread)
            #expect(!createdAgain)
            #expect(kept == original)
            #expect(try await table.route(of: "t") == original)
        }
    }
}
