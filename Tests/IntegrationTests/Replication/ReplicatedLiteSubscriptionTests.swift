import Foundation
import GRPCCore
import SluiceTesting
import SluiceWire
import Testing

/// Lite subscriptions follow the group (`LiteSubscriptions+Replication`): made on the leader
/// with SyncLiteSubscription, they reach the followers through the replicated log, a follower
/// refuses a change naming the leader, and after `kill -9` of the leader the new one holds the
/// group's set and takes further changes, which reach the remaining follower.
@Suite("replicated broker group: lite subscriptions follow the leader", .serialized)
struct ReplicatedLiteSubscriptionTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static let group = "lite-group"
    static let parent = "parent"

    /// One SyncLiteSubscription call of the group on the parent topic; the status answered.
    static func sync(
        _ action: Apache_Rocketmq_V2_LiteSubscriptionAction, _ names: [String], on broker: Broker
    ) async throws -> Apache_Rocketmq_V2_Status {
        try await GRPCProducer.with(port: broker.grpcPort, clientId: "lite-consumer@1") { caller in
            var request = Apache_Rocketmq_V2_SyncLiteSubscriptionRequest()
            request.action = action
            request.topic.name = parent
            request.group.name = group
            request.liteTopicSet = names
            return try await caller.client.syncLiteSubscription(
                request: ClientRequest(message: request, metadata: caller.metadata), options: GRPCProducer.options
            ).status
        }
    }

    /// The group's lite topics on the parent as the broker's admin API lists them (nil: no answer).
    static func liteTopics(on broker: Broker) async -> [String]? {
        guard let reply = try? await LoopbackHTTP.get(broker.admin + "/v1/groups/\(group)/lite/\(parent)"), reply.status == 200
        else { return nil }
        return reply.json?["liteTopics"] as? [String]
    }

    @Test("lite subscriptions made on the leader reach every follower, are refused on a follower, and the next leader after kill -9 holds them and takes further changes")
    func liteSubscriptionsFollowTheGroup() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-lite") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic(Self.parent, type: "lite", on: leader, reaching: brokers)

                let added = try await Self.sync(.partialAdd, ["s1", "s2", "s3"], on: leader)
                #expect(added.code == .ok, "\(added.message)")
                let removed = try await Self.sync(.partialRemove, ["s2"], on: leader)
                #expect(removed.code == .ok, "\(removed.message)")
                #expect(await Self.liteTopics(on: leader) == ["s1", "s3"])

                for follower in followers {
                    let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                        await Self.liteTopics(on: follower) == ["s1", "s3"]
                    }
                    let held = await Self.liteTopics(on: follower)
                    #expect(copied, "the lite subscriptions did not reach \(follower.name): \(String(describing: held))")
                }

                // A follower refuses a change and names the leader.
                let refused = try await Self.sync(.partialAdd, ["s4"], on: followers[0])
                #expect(refused.code != .ok)
                #expect(refused.message.contains("the leader is \(leader.name)"), "\(refused.code) \(refused.message)")
                #expect(await Self.liteTopics(on: followers[0]) == ["s1", "s3"])

                // kill -9 of the leader: the next one holds the set and takes a change.
                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                #expect(await Self.liteTopics(on: newLeader) == ["s1", "s3"])
                let more = try await Self.sync(.partialAdd, ["s5"], on: newLeader)
                #expect(more.code == .ok, "\(more.message)")
                let other = followers.first { $0 !== newLeader }!
                let reached = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    await Self.liteTopics(on: other) == ["s1", "s3", "s5"]
                }
                #expect(reached, "the change on the new leader did not reach \(other.name)")
            }
        }
    }
}
