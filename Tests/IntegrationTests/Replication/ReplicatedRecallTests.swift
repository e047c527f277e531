import Foundation
import SluiceTesting
import SluiceWire
import Testing

/// DELAY recalls follow a replicated group: a message recalled on the leader is not delivered by
/// the next leader after a `kill -9`, and a recall handle the old leader issued works on the new
/// one (the group shares the leader's handle key through the log).
@Suite("replicated broker group: DELAY recalls survive a fail-over", .serialized)
struct ReplicatedRecallTests {
    typealias Broker = ReplicationFailoverTests.Broker

    @Test("recalled on the old leader: not delivered by the new one; recalled on the new one with the old leader's handle: not delivered; the rest is")
    func recallsFollowTheGroup() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-recall") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("later", type: "delay", on: leader, reaching: brokers)
                let group = try JSONSerialization.data(withJSONObject: ["name": "readers", "consumeFrom": "earliest"])
                let created = try await LoopbackHTTP.send(
                    "POST", leader.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(group))
                #expect([200, 201].contains(created.status), "create group: \(created.text)")

                // Due well after the fail-over below (a lease TTL and the promotion), also on a
                // machine loaded by the other multi-broker suites running beside this one (12 s
                // ran out there: the recall on the new leader came too late).
                let due = Int64(Date().timeIntervalSince1970 * 1000) + 30_000
                let (first, second, kept) = try await GRPCProducer.with(port: leader.grpcPort) { producer in
                    let first = try await producer.sendDelayed(topic: "later", messageId: "RECALL-OLD", body: "a", deliveryMs: due)
                    let second = try await producer.sendDelayed(topic: "later", messageId: "RECALL-NEW", body: "b", deliveryMs: due)
                    let kept = try await producer.sendDelayed(topic: "later", messageId: "KEPT", body: "c", deliveryMs: due)
                    let status = try await producer.recall(topic: "later", handle: first.recallHandle)
                    #expect(status.code == .ok, "recall on the leader: \(status.message)")
                    return (first, second, kept)
                }
                #expect(!second.recallHandle.isEmpty && !kept.recallHandle.isEmpty)
                _ = first

                leader.process.send(SIGKILL)
                _ = await leader.process.waitForExit(timeout: .seconds(10))
                let survivors = brokers.filter { $0 !== leader }
                let next = try #require(await ReplicationFailoverTests.settledLeader(survivors), "no new leader")

                // The old leader's handle, checked with the group's key: recallable on the new leader.
                let status = try await GRPCProducer.with(port: next.grpcPort) { producer in
                    try await producer.recall(topic: "later", handle: second.recallHandle)
                }
                #expect(status.code == .ok, "recall on the new leader with the old leader's handle: \(status.message)")

                // After the due time only KEPT is delivered.
                var received: [String] = []
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline && !received.contains("KEPT") {
                    let messages = try await GRPCProducer.with(port: next.grpcPort) { consumer in
                        try await consumer.receive(group: "readers", topic: "later", longPollSeconds: 5)
                    }
                    received += messages.map(\.systemProperties.messageID)
                }
                #expect(received.contains("KEPT"), "the message nobody recalled was not delivered: \(received)")
                // A moment more for anything that would follow it.
                let late = try await GRPCProducer.with(port: next.grpcPort) { consumer in
                    try await consumer.receive(group: "readers", topic: "later", longPollSeconds: 2)
                }
                received += late.map(\.systemProperties.messageID)
                #expect(!received.contains("RECALL-OLD"), "recalled on the old leader, delivered by the new one: \(received)")
                #expect(!received.contains("RECALL-NEW"), "recalled on the new leader, delivered anyway: \(received)")
            }
        }
    }
}
