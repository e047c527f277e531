import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// A deposed leader that rejoins cuts the tail of its log no follower held; the transaction rows
/// that tail made go with it (`TransactionCoordinator.forgetLogTail`): a half only it held is
/// never pending or checked there, and a commit only it held does not leave the half committed.
@Suite("replicated broker group: a cut log tail takes its transactions with it", .serialized)
struct TruncatedTailTransactionTests {
    typealias Broker = ReplicationFailoverTests.Broker

    @Test("after kill -9 and rejoin, the old leader forgets a half and a commit that only it held and agrees with the new leader")
    func cutTailForgetsItsTransactions() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-cut-tail-txn") { directory in
                // No check-backs during the test (first check after a minute): the halves stay
                // prepared on the new leader (a spent check budget would park them there only).
                var brokers = try await ReplicationFailoverTests.startGroup(
                    etcd: etcd.endpoint, in: directory, extraArguments: ["--transaction-timeout", "60s"])
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("payments", type: "transaction", on: leader, reaching: brokers)
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                let followers = brokers.filter { $0 !== leader }

                // "decided": its half reaches a majority; its commit is sent with both followers
                // paused, so only the leader holds the commit. "lost": a half only the leader holds.
                let decided = try await TransactionProducer.withTransactionProducer(
                    configuration: ClientConfiguration(port: leader.grpcPort, requestTimeout: .seconds(5)),
                    topics: ["payments"], checker: { _ in .unknown }
                ) { producer in
                    let decided = try await producer.sendTransactional(Message(topic: "payments", text: "decided")) { _ in
                        for follower in followers { follower.process.send(SIGSTOP) }
                        // The first append after the pause may still reach a follower (the answer
                        // to a fetch parked at the leader lands in its socket; on a loaded machine
                        // the stop may land late): spend plain messages until one is refused, so
                        // nothing after it leaves the leader.
                        var spent = try await ReplicationFailoverTests.send(1, to: leader, prefix: "spent-0")
                        for attempt in 1..<4 where spent.failed != [50402] {
                            spent = try await ReplicationFailoverTests.send(1, to: leader, prefix: "spent-\(attempt)")
                        }
                        #expect(spent.failed == [50402], "expected SLAVE_PERSISTENCE_TIMEOUT, got \(spent.failed)")
                        return .commit
                    }
                    #expect(decided.endTransactionError != nil, "the commit was acknowledged with both followers paused")
                    await #expect(throws: (any Error).self, "a half only the leader holds was acknowledged") {
                        _ = try await producer.sendTransactional(Message(topic: "payments", text: "lost")) { _ in .unknown }
                    }
                    return decided.receipt.transactionID
                }

                await leader.process.killHard()
                for follower in followers { follower.process.send(SIGCONT) }
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                // The new leader never saw the commit: the half is still undecided there.
                #expect(try await ReplicatedTransactionTests.state(of: decided, on: newLeader) == "prepared")

                // The old leader returns: its start-up replay puts the tail's events in its table,
                // then it cuts the tail and must forget them.
                let returning = try leader.restarted()
                brokers[brokers.firstIndex { $0 === leader }!] = returning
                try await returning.start()
                let caughtUp = await ReplicationFailoverTests.eventually(timeout: .seconds(30)) {
                    guard await returning.role() == "follower", let end = await returning.endOffset() else { return false }
                    return end == (await newLeader.endOffset())
                }
                let returningView = String(describing: await returning.replication())
                #expect(caughtUp, "returning leader: \(returningView)")
                #expect(
                    returning.process.standardErrorText.contains("transactions of a cut log tail undone"),
                    "no undo logged: \(returning.process.standardErrorText)")

                // Its table agrees with the new leader's: the commit only it held is undone, the
                // half only it held is gone (not pending, so never checked should it lead again).
                let settled = await ReplicationFailoverTests.eventually(timeout: .seconds(10)) {
                    (try? await ReplicatedTransactionTests.state(of: decided, on: returning)) == "prepared"
                }
                let decidedState = try await ReplicatedTransactionTests.state(of: decided, on: returning)
                #expect(
                    settled,
                    "the commit from the cut tail still shows: \(String(describing: decidedState)); log: \(returning.process.standardErrorText)")
                let pendingThere = try await ReplicatedTransactionTests.transactionIDs(on: returning, state: "prepared")
                let pendingOnLeader = try await ReplicatedTransactionTests.transactionIDs(on: newLeader, state: "prepared")
                #expect(pendingThere == pendingOnLeader, "returning lists \(pendingThere), the leader \(pendingOnLeader)")
                #expect(try await ReplicatedTransactionTests.transactionIDs(on: returning, state: "committed").isEmpty)
            }
        }
    }
}
