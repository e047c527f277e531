import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// With `--replication sync`, consumers of the leader read only below the high-water mark: a
/// record no follower confirmed (it could be cut in a fail-over) is not delivered until one does.
@Suite("replicated broker group: consumers stop at the high-water mark", .serialized)
struct ReplicatedConsumptionTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static func createGroup(_ name: String, on broker: Broker) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "consumeFrom": "earliest"])
        let reply = try await LoopbackHTTP.send(
            "POST", broker.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(body))
        try #require([200, 201, 409].contains(reply.status), "create group on \(broker.name): \(reply.text)")
    }

    @Test("a record refused for lack of follower confirmations is not delivered; a parked receive gets it once the followers hold it")
    func consumerLimitedToHighWaterMark() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-consume") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                try await Self.createGroup("readers", on: leader)
                let first = try await ReplicationFailoverTests.send(5, to: leader, prefix: "acked")
                #expect(first.acked.count == 5, "refused: \(first.failed)")
                let followers = brokers.filter { $0 !== leader }

                // A long await: a receive parked on the leader must be woken when the followers
                // confirm the record, not at the end of its long poll.
                try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(30)), group: "readers",
                    subscriptions: ["orders": "*"], awaitDuration: .seconds(20)
                ) { consumer in
                    // While the followers run: the group's first subscription and its acks are
                    // records a majority must hold (ConsumptionEngine+Replication.swift).
                    var before: [String] = []
                    let deadline = ContinuousClock.now + .seconds(20)
                    while before.count < 5, ContinuousClock.now < deadline {
                        for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)) {
                            try await consumer.ack(message)
                            before.append(message.text)
                        }
                    }
                    #expect(Set(before) == Set((0..<5).map { "acked-\($0)" }), "delivered: \(before)")

                    for follower in followers { follower.process.send(SIGSTOP) }
                    let lonely = try await ReplicationFailoverTests.send(1, to: leader, prefix: "unconfirmed")
                    #expect(lonely.failed == [50402], "expected SLAVE_PERSISTENCE_TIMEOUT, got \(lonely.failed)")
                    #expect(try await leader.messages(withKey: "unconfirmed-0") == 1, "the record is in the leader's log")

                    async let parked = { () async throws -> ([String], ContinuousClock.Instant) in
                        let messages = try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30))
                        return (messages.map(\.text), ContinuousClock.now)
                    }()
                    try await Task.sleep(for: .seconds(2))
                    let resumedAt = ContinuousClock.now
                    for follower in followers { follower.process.send(SIGCONT) }
                    let (woken, returnedAt) = try await parked
                    let waited = returnedAt - resumedAt
                    #expect(woken == ["unconfirmed-0"], "the parked receive got \(woken)")
                    #expect(returnedAt > resumedAt, "delivered while unconfirmed")
                    #expect(waited < .seconds(10), "woken \(waited) after the followers resumed, not by the confirmation")
                }
            }
        }
    }
}
