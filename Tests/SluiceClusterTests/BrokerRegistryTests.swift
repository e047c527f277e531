import SluiceCluster
import SluiceTesting
import Testing

@Suite("broker registry over a real etcd", .serialized)
struct BrokerRegistryTests {
    static func record(_ node: String) -> BrokerRecord {
        BrokerRecord(
            nodeID: node, brokerGroup: "g1", grpcAddress: "127.0.0.1:1", adminAddress: "127.0.0.1:2", registeredAtMs: 1)
    }

    @Test("a registration lives while its lease is kept alive and expires within a TTL after keep-alive stops")
    func registrationExpiresWithLease() async throws {
        try await withEtcd { _, client in
            let registry = BrokerRegistry(client: client)
            let lease = try await client.grantLease(ttlSeconds: 2)
            try await registry.register(Self.record("a"), lease: lease)
            let keeper = Task { try await client.keepAlive(lease) }
            // Three TTLs with keep-alive: still registered.
            try await Task.sleep(for: .seconds(6))
            #expect(try await registry.liveBrokers().map(\.nodeID) == ["a"])
            keeper.cancel()
            let expiredAt = ContinuousClock.now
            let gone = try await eventually(timeout: .seconds(8)) { try await registry.liveBrokers().isEmpty }
            #expect(gone)
            // etcd rounds the TTL up to its minimum and checks expiry about every 500 ms.
            #expect(ContinuousClock.now - expiredAt >= .seconds(1))
        }
    }

    @Test("keep-alive throws leaseLost when the lease is revoked behind its back")
    func lostLeaseIsNoticed() async throws {
        try await withEtcd { _, client in
            let lease = try await client.grantLease(ttlSeconds: 3)
            let keeper = Task { () async -> EtcdError.Code? in
                do {
                    try await client.keepAlive(lease)
                    return nil
                } catch {
                    return (error as? EtcdError)?.code
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            try await client.revokeLease(lease.id)
            let code = await keeper.value
            #expect(code == .leaseLost)
        }
    }

    @Test("keep-alive throws leaseLost when etcd is gone for a whole TTL")
    func unreachableEtcdLosesLease() async throws {
        try await withEtcd { server, client in
            let lease = try await client.grantLease(ttlSeconds: 2)
            let started = ContinuousClock.now
            let keeper = Task { () async -> EtcdError.Code? in
                do {
                    try await client.keepAlive(lease)
                    return nil
                } catch {
                    return (error as? EtcdError)?.code
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            await server.process.killHard()
            let code = await keeper.value
            #expect(code == .leaseLost)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("names that cannot be one key segment are refused before anything is written")
    func badNamesRefused() async throws {
        try await withEtcd { _, client in
            let lease = try await client.grantLease(ttlSeconds: 5)
            await #expect(throws: EtcdError.self) {
                try await BrokerRegistry(client: client).register(Self.record("a/b"), lease: lease)
            }
            let live = try await BrokerRegistry(client: client).liveBrokers()
            #expect(live.isEmpty)
        }
    }

    @Test("a host name endpoint (resolved by DNS) works like an address")
    func hostNameEndpoint() async throws {
        try await withEtcdServer { server in
            let endpoints = try EtcdEndpoints(parsing: "http://localhost:\(server.clientPort)")
            try await EtcdClient.withClient(endpoints: endpoints) { client in
                try await client.put("/sluice-test/k", Array("v".utf8))
                let (value, _) = try await client.get("/sluice-test/k")
                #expect(value?.value == Array("v".utf8))
            }
        }
    }

    @Test("an etcd that does not answer is .unavailable within the request timeout, not a hang")
    func unreachableIsUnavailable() async throws {
        let endpoints = EtcdEndpoints(host: "127.0.0.1", port: try FreePort.next())
        let started = ContinuousClock.now
        let code = try await EtcdClient.withClient(endpoints: endpoints, requestTimeout: .seconds(1)) { client in
            do {
                _ = try await client.get("/x")
                return EtcdError.Code?.none
            } catch {
                return (error as? EtcdError)?.code
            }
        }
        #expect(code == .unavailable)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("endpoint lists parse; https and missing ports are refused with the entry named")
    func endpointParsing() throws {
        let endpoints = try EtcdEndpoints(parsing: "http://127.0.0.1:2379,127.0.0.2:22379")
        #expect(endpoints.members.map(\.port) == [2379, 22379])
        #expect(endpoints.description == "http://127.0.0.1:2379,http://127.0.0.2:22379")
        for bad in ["https://127.0.0.1:2379", "http://127.0.0.1", "http://:2379", "http://h:0", ""] {
            #expect(throws: EtcdError.self) { try EtcdEndpoints(parsing: bad) }
        }
    }
}
