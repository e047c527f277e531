import Foundation
import SluiceClient
import SluiceTesting
import SluiceWire
import Testing

/// Two broker groups of one real `sluice-broker` each, coordinated by a real etcd: a topic created
/// on one broker has its queues spread over both groups by the route table; either broker's
/// QueryRoute names each queue's group leader; each broker takes sends only for its own group's
/// queues, and what it took is received there.
@Suite("sluice-broker --etcd with two broker groups: topics' queues spread over the groups", .serialized)
struct SeveralGroupsTests {
    struct Broker {
        let name: String
        let group: String
        let process: ChildProcess
        let grpcPort: Int
        let adminPort: Int
        var admin: String { "http://127.0.0.1:\(adminPort)" }
    }

    /// - Parameter etcd: nil starts it as a single broker (no cluster), on the same data folder.
    static func startBroker(_ name: String, group: String, etcd: String?, in directory: String) async throws -> Broker {
        let grpcPort = try FreePort.next()
        let adminPort = try FreePort.next()
        let cluster = etcd.map { ["--etcd", $0, "--broker-group", group, "--node-id", name, "--etcd-lease-ttl", "2s"] } ?? []
        let process = ChildProcess(
            executable: try BuildProducts.executable("sluice-broker"),
            arguments: [
                "--data-dir", directory + "/" + name, "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
                "--segment-size", "1MiB", "--log-level", "warning",
            ] + cluster)
        try process.start()
        let listening = await process.waitForOutput(timeout: .seconds(60)) { lines in
            lines.contains("sluice-broker: admin HTTP listening on 127.0.0.1:\(adminPort)")
        }
        guard listening else {
            await process.killHard()
            throw EtcdServerError(description: "broker \(name) did not start: \(process.standardErrorText)")
        }
        return Broker(name: name, group: group, process: process, grpcPort: grpcPort, adminPort: adminPort)
    }

    static func groups(_ broker: Broker) async -> [[String: Any]] {
        guard let reply = try? await LoopbackHTTP.get(broker.admin + "/v1/cluster"), reply.status == 200 else { return [] }
        return reply.json?["groups"] as? [[String: Any]] ?? []
    }

    /// queue id → (broker name, endpoint port) as `broker`'s QueryRoute answers.
    static func route(_ topic: String, from broker: Broker) async throws -> [Int32: (group: String, port: Int32)] {
        let response = try await RawMessaging.with(port: broker.grpcPort) { try await $0.queryRoute(topic) }
        guard response.status.code == .ok else { return [:] }
        var queues: [Int32: (group: String, port: Int32)] = [:]
        for queue in response.messageQueues where queue.permission == .readWrite {
            queues[queue.id] = (queue.broker.name, queue.broker.endpoints.addresses.first?.port ?? 0)
        }
        return queues
    }

    @Test("a 4-queue topic created on one broker: both route it over g1 and g2; each broker refuses another group's queue and serves its own; a delete reaches both")
    func queuesSpreadOverGroups() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-groups") { directory in
                let a = try await Self.startBroker("a", group: "g1", etcd: etcd.endpoint, in: directory)
                let b = try await Self.startBroker("b", group: "g2", etcd: etcd.endpoint, in: directory)
                defer {
                    a.process.send(SIGKILL)
                    b.process.send(SIGKILL)
                }
                let bothLead = await eventually(timeout: .seconds(30)) {
                    let groups = await Self.groups(a)
                    return groups.count == 2 && groups.allSatisfy { $0["leader"] is String }
                }
                let settledView = await Self.groups(a)
                #expect(bothLead, "groups did not settle: \(settledView)")

                let body = try JSONSerialization.data(withJSONObject: ["name": "spread", "type": "normal", "queues": 4])
                let created = try await LoopbackHTTP.send(
                    "POST", a.admin + "/v1/topics", headers: ["Content-Type": "application/json"], body: Array(body))
                #expect(created.status == 201, "\(created.status) \(created.text)")
                // b learns the route from etcd and creates its part of the topic.
                let bHasIt = await eventually(timeout: .seconds(15)) {
                    (try? await LoopbackHTTP.get(b.admin + "/v1/topics/spread"))?.status == 200
                }
                #expect(bHasIt, "b did not create the routed topic")

                // Either broker's route names both groups, each queue with its group leader's port.
                let ports = ["g1": Int32(a.grpcPort), "g2": Int32(b.grpcPort)]
                var routes: [String: [Int32: (group: String, port: Int32)]] = [:]
                for broker in [a, b] {
                    let complete = await eventually(timeout: .seconds(15)) {
                        let route = (try? await Self.route("spread", from: broker)) ?? [:]
                        routes[broker.name] = route
                        return route.count == 4
                    }
                    let route = routes[broker.name] ?? [:]
                    #expect(complete, "route from \(broker.name): \(route)")
                    #expect(Set(route.values.map(\.group)) == ["g1", "g2"], "route from \(broker.name): \(route)")
                    for (queue, served) in route {
                        #expect(served.port == ports[served.group], "queue \(queue) from \(broker.name): \(served)")
                    }
                    #expect(route.values.filter { $0.group == "g1" }.count == 2)
                }
                let route = try #require(routes["a"])
                #expect(route.mapValues(\.group) == (routes["b"] ?? [:]).mapValues(\.group))

                // The cluster view counts the routed queues per group; so does the metric.
                let counted = await eventually(timeout: .seconds(10)) {
                    let groups = await Self.groups(b)
                    return groups.count == 2 && groups.allSatisfy { ($0["queues"] as? Int) == 2 }
                }
                let countedView = await Self.groups(b)
                #expect(counted, "\(countedView)")
                let metrics = try await LoopbackHTTP.get(a.admin + "/metrics").text
                #expect(metrics.contains("sluice_cluster_routed_queues{group=\"g1\"} 2"), "\(metrics)")
                #expect(metrics.contains("sluice_cluster_routed_queues{group=\"g2\"} 2"))
                let table = try await BrokerFailoverTests.cli(["--admin", b.admin, "cluster", "status"])
                #expect(table.status == 0)
                #expect(table.lines.contains { $0.hasPrefix("g2") && $0.contains(" 2 ") }, "\(table.lines)")

                try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: a.grpcPort, requestTimeout: .seconds(10)), group: "readers",
                    subscriptions: ["spread": "*"], awaitDuration: .seconds(2)
                ) { consumerA in
                    try await SimpleConsumer.withSimpleConsumer(
                        configuration: ClientConfiguration(port: b.grpcPort, requestTimeout: .seconds(10)), group: "readers",
                        subscriptions: ["spread": "*"], awaitDuration: .seconds(2)
                    ) { consumerB in
                        for (broker, consumer) in [(a, consumerA), (b, consumerB)] {
                            let owned = route.filter { $0.value.group == broker.group }.keys.sorted()
                            let foreign = route.filter { $0.value.group != broker.group && $0.key != 0 }.keys.sorted()
                            #expect(owned.count == 2)
                            let other = broker.group == "g1" ? "g2" : "g1"
                            var sent: [String: Int32] = [:]
                            try await RawMessaging.with(port: broker.grpcPort) { messaging in
                                // Another group's queue: refused, naming the group that serves it.
                                for queue in foreign {
                                    let refused = try await messaging.send(topic: "spread", queueID: queue, body: "wrong broker")
                                    #expect(refused.status.code == .haNotAvailable, "\(refused.status)")
                                    #expect(refused.status.message.contains("broker group \(other)"), "\(refused.status.message)")
                                }
                                // Its own queues: stored in the queue named.
                                for queue in owned {
                                    let response = try await messaging.send(
                                        topic: "spread", queueID: queue, body: "\(broker.name) queue \(queue)")
                                    #expect(response.status.code == .ok, "\(response.status)")
                                    sent[response.entries.first?.messageID ?? ""] = queue
                                }
                                // No queue named (0, as the Python client sends): one of its own.
                                let unnamed = try await messaging.send(topic: "spread", queueID: 0, body: "\(broker.name) any")
                                #expect(unnamed.status.code == .ok, "\(unnamed.status)")
                                sent[unnamed.entries.first?.messageID ?? ""] = -1
                            }
                            for (id, queue) in sent {
                                let shown = try await LoopbackHTTP.get(broker.admin + "/v1/messages/\(id)")
                                #expect(shown.status == 200, "\(id) on \(broker.name): \(shown.text)")
                                let stored = Int32(((shown.json?["messages"] as? [[String: Any]])?.first?["queueId"] as? Int) ?? -2)
                                #expect(queue == -1 ? owned.contains(stored) : stored == queue, "\(id): \(shown.text)")
                            }
                            // Received from this broker: exactly what it took.
                            var received: Set<String> = []
                            _ = await eventually(timeout: .seconds(30)) {
                                for message in (try? await consumer.receive(maxMessages: 16)) ?? [] {
                                    received.insert(message.messageID)
                                    try? await consumer.ack(message)
                                }
                                return received.count >= sent.count
                            }
                            #expect(received == Set(sent.keys), "received on \(broker.name)")
                        }
                    }
                }

                // A delete on b removes the route; a, following it, deletes its part too.
                let deleted = try await LoopbackHTTP.send(
                    "DELETE", b.admin + "/v1/topics/spread", headers: ["X-Sluice-Actor": "test"], body: [])
                #expect(deleted.status == 204, "\(deleted.status) \(deleted.text)")
                let goneOnA = await eventually(timeout: .seconds(15)) {
                    (try? await LoopbackHTTP.get(a.admin + "/v1/topics/spread"))?.status == 404
                }
                #expect(goneOnA, "a kept the topic of a removed route")
                let uncounted = await eventually(timeout: .seconds(10)) {
                    await Self.groups(a).allSatisfy { ($0["queues"] as? Int) == 0 }
                }
                #expect(uncounted)
            }
        }
    }

    static func createTopic(_ name: String, type: String = "normal", on broker: Broker) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "type": type, "queues": 4])
        let created = try await LoopbackHTTP.send(
            "POST", broker.admin + "/v1/topics", headers: ["Content-Type": "application/json"], body: Array(body))
        #expect(created.status == 201, "create \(name) on \(broker.name): \(created.status) \(created.text)")
    }

    static func topicStatus(_ name: String, on broker: Broker) async -> Int? {
        try? await LoopbackHTTP.get(broker.admin + "/v1/topics/" + name).status
    }

    @Test("a broker down while a route is removed deletes its part when it returns; a routed topic and one made before --etcd stay")
    func removalWhileDown() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-groups-down") { directory in
                // b's "legacy" topic predates the cluster: it has no route and never had one.
                let alone = try await Self.startBroker("b", group: "g2", etcd: nil, in: directory)
                let ready = await eventually(timeout: .seconds(30)) {
                    (try? await LoopbackHTTP.get(alone.admin + "/readyz"))?.status == 200
                }
                #expect(ready)
                try await Self.createTopic("legacy", on: alone)
                alone.process.send(SIGKILL)
                _ = await alone.process.waitForExit(timeout: .seconds(10))

                let a = try await Self.startBroker("a", group: "g1", etcd: etcd.endpoint, in: directory)
                var b = try await Self.startBroker("b", group: "g2", etcd: etcd.endpoint, in: directory)
                defer {
                    a.process.send(SIGKILL)
                    b.process.send(SIGKILL)
                }
                let bothLead = await eventually(timeout: .seconds(30)) {
                    let groups = await Self.groups(a)
                    return groups.count == 2 && groups.allSatisfy { $0["leader"] is String }
                }
                #expect(bothLead)
                try await Self.createTopic("gone", on: a)
                try await Self.createTopic("kept", on: a)
                let bHasBoth = await eventually(timeout: .seconds(15)) {
                    let gone = await Self.topicStatus("gone", on: b)
                    let kept = await Self.topicStatus("kept", on: b)
                    return gone == 200 && kept == 200
                }
                #expect(bHasBoth, "b did not create the routed topics")

                // b is down (kill -9) when the route of "gone" is removed: it sees no watch event.
                b.process.send(SIGKILL)
                _ = await b.process.waitForExit(timeout: .seconds(10))
                let deleted = try await LoopbackHTTP.send(
                    "DELETE", a.admin + "/v1/topics/gone", headers: ["X-Sluice-Actor": "test"], body: [])
                #expect(deleted.status == 204, "\(deleted.status) \(deleted.text)")

                b = try await Self.startBroker("b", group: "g2", etcd: etcd.endpoint, in: directory)
                let goneOnB = await eventually(timeout: .seconds(20)) { await Self.topicStatus("gone", on: b) == 404 }
                #expect(goneOnB, "b kept the topic of a route removed while it was down")
                #expect(await Self.topicStatus("kept", on: b) == 200)
                #expect(await Self.topicStatus("legacy", on: b) == 200, "a topic that was never routed must stay")
            }
        }
    }

    @Test("a broker that still has undecided transactions of a topic whose route is removed keeps it until they are decided")
    func undecidedTransactionsKeepTheTopic() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-groups-undecided") { directory in
                let a = try await Self.startBroker("a", group: "g1", etcd: etcd.endpoint, in: directory)
                let b = try await Self.startBroker("b", group: "g2", etcd: etcd.endpoint, in: directory)
                defer {
                    a.process.send(SIGKILL)
                    b.process.send(SIGKILL)
                }
                let bothLead = await eventually(timeout: .seconds(30)) {
                    let groups = await Self.groups(a)
                    return groups.count == 2 && groups.allSatisfy { $0["leader"] is String }
                }
                #expect(bothLead)
                try await Self.createTopic("payments", type: "transaction", on: a)
                let bHasIt = await eventually(timeout: .seconds(15)) { await Self.topicStatus("payments", on: b) == 200 }
                #expect(bHasIt)

                // A half message on b (queue 0: "none named", so one of b's own), never decided.
                let half = try await RawMessaging.with(port: b.grpcPort) {
                    try await $0.send(topic: "payments", queueID: 0, body: "undecided", type: .transaction)
                }
                #expect(half.status.code == .ok, "\(half.status)")
                let transactionID = try #require(half.entries.first?.transactionID)

                // a has none: its delete succeeds and removes the route.
                let deleted = try await LoopbackHTTP.send(
                    "DELETE", a.admin + "/v1/topics/payments", headers: ["X-Sluice-Actor": "test"], body: [])
                #expect(deleted.status == 204, "\(deleted.status) \(deleted.text)")
                let goneOnA = await eventually(timeout: .seconds(15)) { await Self.topicStatus("payments", on: a) == 404 }
                #expect(goneOnA)
                // b keeps it while its transaction is undecided (several ticks of 2 s).
                try await Task.sleep(for: .seconds(5))
                #expect(await Self.topicStatus("payments", on: b) == 200, "b dropped a topic with an undecided transaction")

                let body = try JSONSerialization.data(withJSONObject: ["resolution": "rollback", "reason": "topic retired"])
                let resolved = try await LoopbackHTTP.send(
                    "POST", b.admin + "/v1/transactions/\(transactionID)/resolve",
                    headers: ["Content-Type": "application/json", "X-Sluice-Actor": "test"], body: Array(body))
                #expect(resolved.status == 200, "\(resolved.status) \(resolved.text)")
                let goneOnB = await eventually(timeout: .seconds(15)) { await Self.topicStatus("payments", on: b) == 404 }
                #expect(goneOnB, "b kept the topic after its last transaction was decided")
            }
        }
    }
}
