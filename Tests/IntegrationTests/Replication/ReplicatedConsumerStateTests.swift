import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// Consumer groups and acks follow the group (ConsumptionEngine+Replication.swift): a group
/// created on the leader reaches the followers with its settings, a follower refuses group
/// changes, and after `kill -9` of the leader the new leader delivers to the group exactly the
/// messages whose acks were not acknowledged, none that were; a group created on first use keeps
/// its start position.
@Suite("replicated broker group: consumer groups and acks follow the leader", .serialized)
struct ReplicatedConsumerStateTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static func groupJSON(_ name: String, on broker: Broker) async throws -> [String: Any]? {
        let reply = try await LoopbackHTTP.get(broker.admin + "/v1/groups/" + name)
        return reply.status == 200 ? reply.json : nil
    }

    /// Receives on `broker` for `window` after the last message arrived (at most `timeout`),
    /// acking everything; returns the texts in arrival order.
    static func drain(_ broker: Broker, group: String, quiet window: Duration, timeout: Duration) async throws -> [String] {
        try await SimpleConsumer.withSimpleConsumer(
            configuration: ClientConfiguration(port: broker.grpcPort, requestTimeout: .seconds(10)), group: group,
            subscriptions: ["orders": "*"], awaitDuration: .seconds(2)
        ) { consumer in
            var texts: [String] = []
            let deadline = ContinuousClock.now + timeout
            var lastArrival = ContinuousClock.now
            while ContinuousClock.now < deadline, ContinuousClock.now - lastArrival < window {
                for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)) {
                    try await consumer.ack(message)
                    texts.append(message.text)
                    lastArrival = ContinuousClock.now
                }
            }
            return texts
        }
    }

    @Test("after kill -9 of the leader the new leader knows the group and delivers exactly the messages left unacknowledged, none of the acknowledged")
    func acksSurviveFailover() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-acks") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)

                // The group (consumeFrom earliest, 5 attempts) reaches every follower with its settings.
                let body = try JSONSerialization.data(
                    withJSONObject: ["name": "readers", "consumeFrom": "earliest", "maxDeliveryAttempts": 5])
                let created = try await LoopbackHTTP.send(
                    "POST", leader.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(body))
                try #require(created.status == 201, "create group: \(created.text)")
                for follower in followers {
                    let copied = try await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                        try await Self.groupJSON("readers", on: follower) != nil
                    }
                    #expect(copied, "the group did not reach \(follower.name)")
                    let shown = try await Self.groupJSON("readers", on: follower)
                    #expect(shown?["consumeFrom"] as? String == "earliest", "\(String(describing: shown))")
                    #expect(shown?["maxDeliveryAttempts"] as? Int == 5, "\(String(describing: shown))")
                }
                // A follower refuses group changes and names the leader.
                let refusedBody = try JSONSerialization.data(withJSONObject: ["name": "elsewhere"])
                let refused = try await LoopbackHTTP.send(
                    "POST", followers[0].admin + "/v1/groups", headers: ["Content-Type": "application/json"],
                    body: Array(refusedBody))
                #expect(refused.status == 421, "\(refused.status) \(refused.text)")

                // A group created on first use (consumeFrom latest) subscribes before the sends:
                // its start position is a record, so the new leader starts it there too.
                try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(10)), group: "auto",
                    subscriptions: ["orders": "*"], awaitDuration: .seconds(1)
                ) { consumer in
                    let nothing = try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30))
                    #expect(nothing.isEmpty)
                }

                // 10 messages: 7 acknowledged (one ack request each), 3 received and left in flight.
                let sent = try await ReplicationFailoverTests.send(10, to: leader, prefix: "m")
                #expect(sent.acked.count == 10, "refused: \(sent.failed)")
                let acked: Set<String> = Set((0..<7).map { "m-\($0)" })
                try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(10)), group: "readers",
                    subscriptions: ["orders": "*"], awaitDuration: .seconds(2)
                ) { consumer in
                    var received: Set<String> = []
                    let deadline = ContinuousClock.now + .seconds(20)
                    while received.count < 10, ContinuousClock.now < deadline {
                        for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(8)) {
                            received.insert(message.text)
                            if acked.contains(message.text) { try await consumer.ack(message) }
                        }
                    }
                    #expect(received.count == 10, "received on the leader: \(received.sorted())")
                }

                // kill -9 right after the last ack was answered: no time for a follower tick.
                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let shown = try await Self.groupJSON("readers", on: newLeader)
                #expect(shown?["consumeFrom"] as? String == "earliest", "the new leader's group: \(String(describing: shown))")

                let after = try await Self.drain(newLeader, group: "readers", quiet: .seconds(12), timeout: .seconds(60))
                #expect(after.sorted() == ["m-7", "m-8", "m-9"], "delivered by the new leader: \(after)")
                #expect(acked.isDisjoint(with: after), "acknowledged messages delivered again: \(after)")
                let auto = try await Self.drain(newLeader, group: "auto", quiet: .seconds(5), timeout: .seconds(30))
                #expect(auto.sorted() == (0..<10).map { "m-\($0)" }, "the auto-created group on the new leader got \(auto)")
            }
        }
    }

    @Test("messages in flight at a kill -9 of the leader stay in flight on the new leader: not delivered again while invisible, and the old leader's receipt handles acknowledge them there")
    func inFlightSurvivesFailover() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-inflight") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                let body = try JSONSerialization.data(withJSONObject: ["name": "holders", "consumeFrom": "earliest"])
                let created = try await LoopbackHTTP.send(
                    "POST", leader.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(body))
                try #require(created.status == 201, "create group: \(created.text)")

                let sent = try await ReplicationFailoverTests.send(4, to: leader, prefix: "m")
                #expect(sent.acked.count == 4, "refused: \(sent.failed)")
                let held = try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(10)), group: "holders",
                    subscriptions: ["orders": "*"], awaitDuration: .seconds(2)
                ) { consumer in
                    var held: [ReceivedMessage] = []
                    let deadline = ContinuousClock.now + .seconds(20)
                    while held.count < 4, ContinuousClock.now < deadline {
                        held += try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(120))
                    }
                    return held
                }
                try #require(held.count == 4, "received on the leader: \(held.map(\.text))")
                // The delivery records are appended without waiting: let the followers copy them
                // (what a kill -9 before that costs is a redelivery, tested nowhere as a loss).
                for follower in followers {
                    let copied = try await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                        try await Self.groupJSON("holders", on: follower)?["inFlight"] as? Int == 4
                    }
                    #expect(copied, "\(follower.name) does not show the 4 deliveries in flight")
                }

                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: newLeader.grpcPort, requestTimeout: .seconds(10)),
                    group: "holders", subscriptions: ["orders": "*"], awaitDuration: .seconds(2)
                ) { consumer in
                    var again: [String] = []
                    let quietUntil = ContinuousClock.now + .seconds(6)
                    while ContinuousClock.now < quietUntil {
                        again += try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)).map(\.text)
                    }
                    #expect(again.isEmpty, "delivered again while still invisible: \(again)")
                    for message in held { try await consumer.ack(message) }
                }
                let shown = try await Self.groupJSON("holders", on: newLeader)
                #expect(shown?["inFlight"] as? Int == 0 && shown?["waiting"] as? Int == 0, "\(String(describing: shown))")
            }
        }
    }
}
