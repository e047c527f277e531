import Foundation
import SluiceTesting
import Testing

/// Real `sluice-broker` processes coordinated by a real etcd.
@Suite("sluice-broker --etcd: registration and leader fail-over", .serialized)
struct BrokerFailoverTests {
    /// The lease TTL the brokers run with: a broker killed with SIGKILL cannot resign, so the
    /// survivor takes over only when etcd expires the dead one's lease, at most a TTL (plus
    /// etcd's expiry check, ~0.5 s) after the kill.
    static let leaseTTLSeconds = 2
    /// TTL + etcd's expiry granularity + the survivor's Txn + polling, with room for a loaded
    /// 2-core machine.
    static let failoverBound: Duration = .seconds(leaseTTLSeconds + 8)

    struct Broker {
        let name: String
        let process: ChildProcess
        let adminPort: Int
        var clusterURL: String { "http://127.0.0.1:\(adminPort)/v1/cluster" }

        func cluster() async -> [String: Any]? {
            guard let reply = try? await LoopbackHTTP.get(clusterURL), reply.status == 200 else { return nil }
            return reply.json
        }

        func node() async -> [String: Any]? { await cluster()?["node"] as? [String: Any] }
    }

    static func startBroker(
        _ name: String, etcd: String, in directory: String, leaseTTLSeconds: Int = leaseTTLSeconds
    ) async throws -> Broker {
        let grpcPort = try FreePort.next()
        let adminPort = try FreePort.next()
        let process = ChildProcess(
            executable: try BuildProducts.executable("sluice-broker"),
            arguments: [
                "--data-dir", directory + "/" + name, "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
                "--segment-size", "1MiB", "--log-level", "warning",
                "--etcd", etcd, "--broker-group", "g1", "--node-id", name, "--etcd-lease-ttl", "\(leaseTTLSeconds)s",
            ])
        try process.start()
        let listening = await process.waitForOutput(timeout: .seconds(60)) { lines in
            lines.contains("sluice-broker: admin HTTP listening on 127.0.0.1:\(adminPort)")
        }
        guard listening else {
            await process.killHard()
            throw EtcdServerError(description: "broker \(name) did not start: \(process.standardErrorText)")
        }
        return Broker(name: name, process: process, adminPort: adminPort)
    }

    static func cli(_ arguments: [String]) async throws -> (status: Int32, lines: [String]) {
        let process = ChildProcess(executable: try BuildProducts.executable("sluice"), arguments: arguments)
        try process.start()
        let status = await process.waitForExit(timeout: .seconds(30))
        return (status, process.outputLines)
    }

    @Test("two brokers of one group: one leads; after kill -9 of the leader the other leads at a higher epoch within a lease TTL")
    func leaderFailover() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-failover") { directory in
                let a = try await Self.startBroker("a", etcd: etcd.endpoint, in: directory)
                let b = try await Self.startBroker("b", etcd: etcd.endpoint, in: directory)
                defer {
                    a.process.send(SIGKILL)
                    b.process.send(SIGKILL)
                }
                // Both registered, one of them leads.
                var group: [String: Any] = [:]
                let settled = await eventually(timeout: .seconds(30)) {
                    guard let groups = await a.cluster()?["groups"] as? [[String: Any]], let g1 = groups.first,
                        (g1["members"] as? [[String: Any]])?.count == 2, g1["leader"] is String
                    else { return false }
                    group = g1
                    return true
                }
                let settledView = String(describing: await a.cluster())
                #expect(settled, "cluster did not settle: \(settledView)")
                let leaderName = try #require(group["leader"] as? String)
                let firstEpoch = try #require(group["epoch"] as? Int)
                #expect(firstEpoch >= 1)
                let (leader, survivor) = leaderName == "a" ? (a, b) : (b, a)
                #expect(await leader.node()?["role"] as? String == "leader")
                #expect(await survivor.node()?["role"] as? String == "follower")
                #expect(leader.process.outputLines.contains("sluice-broker: cluster leader of group g1 at epoch \(firstEpoch)"))
                let leaderMetrics = try await LoopbackHTTP.get("http://127.0.0.1:\(leader.adminPort)/metrics").text
                let followerMetrics = try await LoopbackHTTP.get("http://127.0.0.1:\(survivor.adminPort)/metrics").text
                #expect(leaderMetrics.contains("sluice_cluster_leader{group=\"g1\"} 1"), "\(leaderMetrics)")
                #expect(leaderMetrics.contains("sluice_cluster_epoch{group=\"g1\"} \(firstEpoch)"))
                #expect(followerMetrics.contains("sluice_cluster_leader{group=\"g1\"} 0"))

                // The operator's view: `sluice cluster status`, table and JSON.
                let table = try await Self.cli(["--admin", "http://127.0.0.1:\(survivor.adminPort)", "cluster", "status"])
                #expect(table.status == 0)
                let follower = survivor.name
                #expect(table.lines.contains { $0.hasPrefix("g1") && $0.contains(leaderName) && $0.contains(" \(firstEpoch) ") && $0.hasSuffix(follower) })
                let json = try await Self.cli(["cluster", "status", "--json", "--admin", "http://127.0.0.1:\(leader.adminPort)"])
                #expect(json.status == 0)
                #expect(json.lines.joined().contains("\"role\":\"leader\""))

                await leader.process.killHard()
                let killedAt = ContinuousClock.now
                let tookOver = await eventually(timeout: Self.failoverBound) {
                    guard let node = await survivor.node() else { return false }
                    return node["role"] as? String == "leader" && (node["epoch"] as? Int ?? 0) > firstEpoch
                }
                let elapsed = ContinuousClock.now - killedAt
                let survivorView = String(describing: await survivor.cluster())
                #expect(tookOver, "survivor did not take over within \(Self.failoverBound): \(survivorView)")
                #expect(elapsed < Self.failoverBound)
                // No resignation after SIGKILL: the take-over waited for the lease to expire.
                #expect(elapsed > .milliseconds(500))
                let secondEpoch = try #require(await survivor.node()?["epoch"] as? Int)
                #expect(secondEpoch == firstEpoch + 1)
                #expect(survivor.process.outputLines.contains("sluice-broker: cluster leader of group g1 at epoch \(secondEpoch)"))
                // The dead broker's registration expired with its lease.
                let groups = await survivor.cluster()?["groups"] as? [[String: Any]]
                let members = (groups?.first?["members"] as? [[String: Any]])?.compactMap { $0["nodeId"] as? String }
                #expect(members == [survivor.name])
            }
        }
    }

    @Test("SIGTERM of the leader hands over at once: it resigns and revokes its lease instead of waiting out the TTL")
    func gracefulHandOver() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-handover") { directory in
                // A long TTL, so that a hand-over that waited for the lease to expire cannot pass.
                let a = try await Self.startBroker("a", etcd: etcd.endpoint, in: directory, leaseTTLSeconds: 20)
                let aLeads = await eventually(timeout: .seconds(30)) { await a.node()?["role"] as? String == "leader" }
                #expect(aLeads)
                let b = try await Self.startBroker("b", etcd: etcd.endpoint, in: directory, leaseTTLSeconds: 20)
                defer {
                    a.process.send(SIGKILL)
                    b.process.send(SIGKILL)
                }
                let bFollows = await eventually(timeout: .seconds(30)) { await b.node()?["role"] as? String == "follower" }
                #expect(bFollows)
                let stoppedAt = ContinuousClock.now
                a.process.send(SIGTERM)
                let bLeads = await eventually(timeout: .seconds(30)) { await b.node()?["role"] as? String == "leader" }
                #expect(bLeads)
                // Without the revocation b would wait 13 to 20 s for a's lease to expire.
                #expect(ContinuousClock.now - stoppedAt < .seconds(10))
                #expect(await a.process.waitForExit(timeout: .seconds(30)) == 0)
            }
        }
    }

    @Test("etcd gone for longer than the lease TTL: the leader steps down; etcd back: it leads again at a higher epoch")
    func etcdOutage() async throws {
        try await withTemporaryDirectory(prefix: "sluice-outage") { directory in
            let etcd = try await EtcdServer.start(dataDirectory: directory + "/etcd-home")
            let a = try await Self.startBroker("a", etcd: etcd.endpoint, in: directory)
            defer { a.process.send(SIGKILL) }
            let leads = await eventually(timeout: .seconds(30)) { await a.node()?["role"] as? String == "leader" }
            #expect(leads)
            let firstEpoch = try #require(await a.node()?["epoch"] as? Int)

            await etcd.process.killHard()
            // No renewal for a whole TTL: the lease must be taken as expired, leadership with it.
            let steppedDown = await eventually(timeout: .seconds(Self.leaseTTLSeconds + 8)) {
                await a.node()?["role"] as? String == "joining"
            }
            #expect(steppedDown)
            let view = await a.cluster()
            #expect(view?["etcdError"] is String)
            #expect(a.process.outputLines.contains("sluice-broker: cluster joining group g1"))
            // The operator sees it too: `sluice cluster status` fails (1) and says why.
            let status = try await Self.cli(["--admin", "http://127.0.0.1:\(a.adminPort)", "cluster", "status"])
            #expect(status.status == 1)
            #expect(status.lines.contains { $0.contains("a in group g1, joining") })

            let again = try await etcd.restarted()
            defer { again.process.send(SIGKILL) }
            let leadsAgain = await eventually(timeout: .seconds(30)) {
                guard let node = await a.node() else { return false }
                return node["role"] as? String == "leader" && (node["epoch"] as? Int ?? 0) > firstEpoch
            }
            #expect(leadsAgain)
            await again.stop()
        }
    }

    @Test("without --etcd the broker is single: GET /v1/cluster says so and nothing else changes")
    func singleBroker() async throws {
        try await withTemporaryDirectory(prefix: "sluice-single") { directory in
            let adminPort = try FreePort.next()
            let process = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: [
                    "--data-dir", directory, "--grpc-port", "\(try FreePort.next())", "--admin-port", "\(adminPort)",
                    "--segment-size", "1MiB", "--log-level", "warning",
                ])
            try process.start()
            defer { process.send(SIGKILL) }
            let reply = try #require(
                await eventuallyValue(timeout: .seconds(60)) { try? await LoopbackHTTP.get("http://127.0.0.1:\(adminPort)/v1/cluster") })
            #expect(reply.status == 200)
            #expect(reply.json?["mode"] as? String == "single")
            #expect(reply.json?["node"] is NSNull)
            #expect(!process.outputLines.contains { $0.contains("cluster") })
        }
    }

    @Test("a bad --etcd value is refused at start with the flag named")
    func badEtcdFlag() async throws {
        let process = ChildProcess(
            executable: try BuildProducts.executable("sluice-broker"),
            arguments: ["--etcd", "https://127.0.0.1:2379", "--print-config"])
        try process.start()
        // --print-config only parses; the endpoint list is checked when the broker starts.
        #expect(await process.waitForExit(timeout: .seconds(30)) == 0)
        try await withTemporaryDirectory(prefix: "sluice-bad-etcd") { directory in
            let starting = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: [
                    "--data-dir", directory, "--grpc-port", "0", "--admin-port", "0", "--etcd", "https://127.0.0.1:2379",
                ])
            try starting.start()
            #expect(await starting.waitForExit(timeout: .seconds(30)) != 0)
            #expect(starting.standardErrorText.contains("--etcd"))
            let bad = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: ["--broker-group", "a/b", "--print-config"])
            try bad.start()
            #expect(await bad.waitForExit(timeout: .seconds(30)) != 0)
            #expect(bad.standardErrorText.contains("--broker-group"))
        }
    }
}

/// Polls `produce` every 50 ms until it gives a value, at most `timeout`.
func eventuallyValue<T>(timeout: Duration, _ produce: () async -> T?) async -> T? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = await produce() { return value }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return await produce()
}
