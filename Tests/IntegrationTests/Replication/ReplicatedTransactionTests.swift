import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// A follower's transaction table follows the log it copies, so the broker that takes over after
/// `kill -9` of the leader knows the halves left prepared there (and checks them), and not the
/// ones already committed.
@Suite("replicated broker group: transactions survive a fail-over", .serialized)
struct ReplicatedTransactionTests {
    typealias Broker = ReplicationFailoverTests.Broker
    /// First check-back 1 s after the half, then every second.
    static let arguments = ["--transaction-timeout", "1s", "--transaction-check-interval", "1s"]

    /// `GET /v1/transactions?state=<state>`: the ids listed.
    static func transactionIDs(on broker: Broker, state: String) async throws -> Set<String> {
        let reply = try await LoopbackHTTP.get(broker.admin + "/v1/transactions?state=\(state)&limit=1000")
        guard reply.status == 200, let rows = reply.json?["transactions"] as? [[String: Any]] else { return [] }
        return Set(rows.compactMap { $0["id"] as? String })
    }

    /// `GET /v1/transactions/{id}`: its state, nil when the broker does not know it.
    static func state(of id: String, on broker: Broker) async throws -> String? {
        let reply = try await LoopbackHTTP.get(broker.admin + "/v1/transactions/\(id)")
        guard reply.status == 200 else { return nil }
        return (reply.json?["transaction"] as? [String: Any])?["state"] as? String ?? reply.json?["state"] as? String
    }

    @Test("a half left prepared on a killed leader is pending and checked on the new one; a committed one is not pending")
    func preparedHalfSurvivesFailover() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-txn") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(
                    etcd: etcd.endpoint, in: directory, extraArguments: Self.arguments)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("payments", type: "transaction", on: leader, reaching: brokers)

                // One half left prepared (the producer answers "unknown" and then goes away), one
                // committed by its producer.
                let (stuck, paid) = try await TransactionProducer.withTransactionProducer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(5)),
                    topics: ["payments"], checker: { _ in .unknown }
                ) { producer in
                    let stuck = try await producer.sendTransactional(Message(topic: "payments", text: "stuck")) { _ in .unknown }
                    let paid = try await producer.sendTransactional(Message(topic: "payments", text: "paid")) { _ in .commit }
                    return (stuck.receipt.transactionID, paid.receipt.transactionID)
                }
                let followers = brokers.filter { $0 !== leader }
                let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(20)) {
                    let end = await leader.endOffset()
                    for follower in followers where await follower.endOffset() != end { return false }
                    return true
                }
                #expect(copied, "followers did not copy the leader's log")

                // While following: the table already has what was copied.
                for follower in followers {
                    let known = await ReplicationFailoverTests.eventually(timeout: .seconds(10)) {
                        let prepared = (try? await Self.transactionIDs(on: follower, state: "prepared")) ?? []
                        let paidState = try? await Self.state(of: paid, on: follower)
                        return prepared.contains(stuck) && paidState == "committed"
                    }
                    let view = try await Self.transactionIDs(on: follower, state: "prepared")
                    #expect(known, "follower \(follower.name): prepared \(view)")
                }

                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let pending = try await Self.transactionIDs(on: newLeader, state: "prepared")
                #expect(pending.contains(stuck), "the new leader does not list the prepared half: \(pending)")
                #expect(!pending.contains(paid), "a committed transaction is pending again on the new leader")
                #expect(try await Self.state(of: paid, on: newLeader) == "committed")

                // Its checker asks a producer of the topic, whose answer commits the half there.
                let checked = Collected<String>()
                try await TransactionProducer.withTransactionProducer(
                    configuration: ClientConfiguration(port: newLeader.grpcPort, requestTimeout: .seconds(5)),
                    topics: ["payments"],
                    checker: { check in
                        await checked.append(check.transactionID)
                        return check.transactionID == stuck ? .commit : .unknown
                    }
                ) { _ in
                    let resolved = await ReplicationFailoverTests.eventually(timeout: .seconds(30)) {
                        (try? await Self.state(of: stuck, on: newLeader)) == "committed"
                    }
                    let asked = await checked.values
                    #expect(resolved, "the new leader did not settle the half by a check-back; checks: \(asked)")
                    #expect(asked.contains(stuck))
                    #expect(!asked.contains(paid))
                }
            }
        }
    }
}
