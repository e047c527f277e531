import SluiceCluster
import SluiceTesting
import Synchronization
import Testing

@Suite("route table and transaction-check ownership over a real etcd", .serialized)
struct RouteTableTests {
    @Test("a route round-trips and a watcher sees the update and the removal")
    func roundTripAndWatch() async throws {
        try await withEtcd { _, client in
            let table = RouteTable(client: client)
            let route = TopicRoute(
                topic: "orders", queues: [.init(queueID: 0, brokerGroup: "g1"), .init(queueID: 1, brokerGroup: "g2")])
            try await table.put(route)
            #expect(try await table.route(of: "orders") == route)
            #expect(try await table.route(of: "absent") == nil)

            let (routes, revision) = try await table.all()
            #expect(routes == [route])
            let changes = Mutex<[RouteChange]>([])
            let watcher = Task { for try await change in table.watch(after: revision) { changes.withLock { $0.append(change) } } }
            defer { watcher.cancel() }
            let moved = TopicRoute(topic: "orders", queues: [.init(queueID: 0, brokerGroup: "g3")])
            try await table.put(moved)
            #expect(try await table.remove("orders"))
            #expect(await eventually(timeout: .seconds(5)) {
                changes.withLock { $0 } == [.updated(moved), .removed(topic: "orders")]
            })
        }
    }

    @Test("routes with no queues, a duplicate queue id or a slash in the topic are refused")
    func badRoutesRefused() async throws {
        try await withEtcd { _, client in
            let table = RouteTable(client: client)
            for bad in [
                TopicRoute(topic: "t", queues: []),
                TopicRoute(topic: "t", queues: [.init(queueID: 1, brokerGroup: "g"), .init(queueID: 1, brokerGroup: "g")]),
                TopicRoute(topic: "a/b", queues: [.init(queueID: 0, brokerGroup: "g")]),
            ] {
                await #expect(throws: EtcdError.self) { try await table.put(bad) }
            }
            let stored = try await table.all().routes
            #expect(stored.isEmpty)
        }
    }

    @Test("one owner per producer group; the claim expires with the owner's lease and another can take it")
    func checkOwnership() async throws {
        try await withEtcd { _, client in
            let ownership = TransactionCheckOwnership(client: client)
            // Long enough never to run out during the test (a 5 s lease expired on a loaded
            // machine before the last steps); A's claim ends by revoking its lease, not by expiry.
            let leaseA = try await client.grantLease(ttlSeconds: 60)
            let leaseB = try await client.grantLease(ttlSeconds: 60)
            let a = CheckOwner(producerGroup: "pg", nodeID: "a", brokerGroup: "g1")
            let b = CheckOwner(producerGroup: "pg", nodeID: "b", brokerGroup: "g1")
            #expect(try await ownership.claim(a, lease: leaseA) == a)
            #expect(try await ownership.claim(b, lease: leaseB) == a)
            #expect(try await ownership.release("pg", lease: leaseB) == false)
            #expect(try await ownership.owner(of: "pg") == a)
            try await client.revokeLease(leaseA.id)
            #expect(try await ownership.owner(of: "pg") == nil)
            #expect(try await ownership.claim(b, lease: leaseB) == b)
            #expect(try await ownership.all() == [b])
            #expect(try await ownership.release("pg", lease: leaseB))
            #expect(try await ownership.all().isEmpty)
        }
    }
}
