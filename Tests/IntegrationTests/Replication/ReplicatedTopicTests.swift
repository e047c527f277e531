import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// Topics follow the group (`ReplicatedTopicRegistry`): created on the leader, they reach the
/// followers through the replicated log, also one that was down meanwhile, and a new leader
/// after `kill -9` serves them. A follower refuses topic changes, naming the leader.
@Suite("replicated broker group: topics follow the leader", .serialized)
struct ReplicatedTopicTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static func send(_ text: String, topic: String, to broker: Broker) async throws -> String {
        try await Producer.withProducer(
            configuration: ClientConfiguration(port: broker.grpcPort, requestTimeout: .seconds(5)), topics: [topic],
            retryPolicy: SendRetryPolicy(maxAttempts: 1)
        ) { producer in
            try await producer.send(Message(topic: topic, text: text)).messageID
        }
    }

    static func post(_ body: [String: Any], to broker: Broker) async throws -> HTTPReply {
        let bytes = try JSONSerialization.data(withJSONObject: body)
        return try await LoopbackHTTP.send(
            "POST", broker.admin + "/v1/topics", headers: ["Content-Type": "application/json"], body: Array(bytes))
    }

    @Test("a topic created on the leader only reaches every follower (one was down), is refused on a follower, and takes sends on the next leader after kill -9")
    func topicsFollowTheGroup() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-topics") { directory in
                var brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                let (up, down) = (followers[0], followers[1])

                // One follower is down while the topic is created on the leader (2 of 3 hold it).
                await down.process.killHard()
                try await leader.createTopic("late", type: "normal")
                let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) { await up.hasTopic("late") }
                #expect(copied, "the running follower did not get the topic")
                let shown = try await LoopbackHTTP.get(up.admin + "/v1/topics/late")
                #expect((shown.json?["type"] as? String) == "normal" && (shown.json?["queues"] as? Int) == 4, "\(shown.text)")

                // A follower refuses topic changes and names the leader.
                let refused = try await Self.post(["name": "elsewhere", "type": "normal"], to: up)
                #expect(refused.status == 421, "\(refused.status) \(refused.text)")
                let error = refused.json?["error"] as? [String: Any]
                #expect(error?["code"] as? String == "NOT_LEADER", "\(refused.text)")
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("the leader is \(leader.name)"), "\(refused.text)")
                #expect(!(await up.hasTopic("elsewhere")))

                // The follower that was down gets it when it returns.
                let returned = try down.restarted()
                brokers[brokers.firstIndex { $0 === down }!] = returned
                try await returned.start()
                let caughtUp = await ReplicationFailoverTests.eventually(timeout: .seconds(30)) { await returned.hasTopic("late") }
                #expect(caughtUp, "the returning follower did not get the topic")

                // kill -9 of the leader: the next leader has the topic and takes sends to it.
                await leader.process.killHard()
                let survivors = [up, returned]
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(survivors, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let id = try await Self.send("after fail-over", topic: "late", to: newLeader)
                #expect(try await newLeader.hasMessage(id))

                // A delete on the new leader reaches the other broker too.
                let other = survivors.first { $0 !== newLeader }!
                let deleted = try await LoopbackHTTP.send(
                    "DELETE", newLeader.admin + "/v1/topics/late", headers: ["X-Sluice-Actor": "test"], body: [])
                #expect(deleted.status == 204, "\(deleted.text)")
                let gone = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) { !(await other.hasTopic("late")) }
                #expect(gone, "the delete did not reach \(other.name)")
            }
        }
    }
}
