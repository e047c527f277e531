import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// A replica whose log ends before its leader's first retained record — a new, empty broker of
/// the group, or one that was down while the leader's retention deleted what it lacks — takes
/// the leader's snapshot at start-up (its database copy and log start) and copies the log from
/// there: it knows the groups (and topics) whose records retention deleted, holds the retained
/// messages, and can lead after the leader dies.
@Suite("replicated broker group: snapshot transfer past the leader's retention", .serialized)
struct ReplicatedSnapshotTests {
    typealias Broker = ReplicationFailoverTests.Broker

    /// 64 KiB segments so a few hundred messages fill several; async replication so the leader
    /// takes sends while one follower is down; retention of one hour, aged by hand.
    static let arguments = ["--segment-size", "64KiB", "--replication", "async", "--retention-hours", "1"]

    static func send(_ count: Int, topic: String, prefix: String, to broker: Broker) async throws -> [String] {
        try await Producer.withProducer(
            configuration: ClientConfiguration(port: broker.grpcPort, requestTimeout: .seconds(5)), topics: [topic],
            retryPolicy: SendRetryPolicy(maxAttempts: 3)
        ) { producer in
            var ids: [String] = []
            let padding = String(repeating: "p", count: 1000)
            for index in 0..<count {
                ids.append(try await producer.send(Message(topic: topic, text: "\(prefix)-\(index)-\(padding)")).messageID)
            }
            return ids
        }
    }

    static func logExtent(_ broker: Broker) async -> (start: Int, end: Int)? {
        guard let reply = try? await LoopbackHTTP.get(broker.admin + "/v1/log"), reply.status == 200,
            let start = reply.json?["startOffset"] as? Int, let end = reply.json?["endOffset"] as? Int
        else { return nil }
        return (start, end)
    }

    /// Makes every sealed segment of `broker` two hours old and runs its retention now.
    static func ageAndTrim(_ broker: Broker) async throws -> [String] {
        let folder = broker.directory + "/commitlog"
        let old = Date().addingTimeInterval(-2 * 3600)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: folder + "/" + name)
        }
        let reply = try await LoopbackHTTP.send(
            "POST", broker.admin + "/v1/log/retention", headers: ["X-Sluice-Actor": "test"], body: [])
        try #require(reply.status == 200, "retention on \(broker.name): \(reply.status) \(reply.text)")
        return reply.json?["deletedSegments"] as? [String] ?? []
    }

    @Test("a new replica and one that was down past retention take the leader's snapshot, know the group whose record retention deleted, copy the rest, and serve after kill -9 of the leader")
    func snapshotAfterRetention() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-snapshot") { directory in
                func broker(_ name: String) throws -> Broker {
                    try Broker(
                        name: name, directory: directory + "/" + name, grpcPort: try FreePort.next(),
                        adminPort: try FreePort.next(), replicationPort: try FreePort.next(), etcd: etcd.endpoint,
                        extraArguments: Self.arguments)
                }
                let a = try broker("a")
                let b = try broker("b")
                try await a.start()
                try await b.start()
                var running = [a, b]
                defer { for broker in running { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader([a, b]), "no leader settled")
                let follower = leader === a ? b : a

                // A topic and a consumer group whose records retention will delete (the topic
                // also lives in etcd's route table; the group only in the log and the database).
                try await ReplicationFailoverTests.createTopic("early", on: leader, reaching: [follower])
                let group = try JSONSerialization.data(withJSONObject: ["name": "early-readers", "maxDeliveryAttempts": 7])
                let created = try await LoopbackHTTP.send(
                    "POST", leader.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(group))
                try #require([200, 201].contains(created.status), "group: \(created.status) \(created.text)")
                _ = try await Self.send(5, topic: "early", prefix: "early", to: leader)
                let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    await follower.endOffset() == (await leader.endOffset())
                }
                #expect(copied, "the follower did not copy the first records")

                // The follower goes down; the leader fills several segments and deletes the old ones.
                await follower.process.killHard()
                running.removeAll { $0 === follower }
                try await leader.createTopic("bulk")
                _ = try await Self.send(300, topic: "bulk", prefix: "bulk", to: leader)
                let deleted = try await Self.ageAndTrim(leader)
                #expect(!deleted.isEmpty, "retention deleted nothing")
                let extent = try #require(await Self.logExtent(leader))
                let followerEnd = await follower.endOffset()
                #expect(extent.start > 0)
                let late = try await Self.send(3, topic: "early", prefix: "late", to: leader)

                // A brand-new replica and the returning follower: both behind the leader's start.
                let c = try broker("c")
                let returned = try follower.restarted()
                try await c.start()
                running.append(c)
                try await returned.start()
                running.append(returned)
                for replica in [c, returned] {
                    let caughtUp = await ReplicationFailoverTests.eventually(timeout: .seconds(60)) {
                        await replica.endOffset() == (await leader.endOffset())
                    }
                    let state = await replica.replication() ?? [:]
                    #expect(caughtUp, "\(replica.name) did not catch up: \(state)")
                    let installed = await replica.process.waitForOutput(timeout: .seconds(5)) { lines in
                        lines.contains { $0.contains("installed the snapshot of leader \(leader.name)") }
                    }
                    #expect(installed, "\(replica.name) did not take a snapshot")
                    let copy = await Self.logExtent(replica)
                    #expect(copy?.start == extent.start, "\(replica.name): log starts at \(String(describing: copy)), leader \(extent)")
                    #expect(await replica.hasTopic("early"), "\(replica.name) does not know the topic")
                    #expect(await replica.hasTopic("bulk"))
                    let shown = try await LoopbackHTTP.get(replica.admin + "/v1/groups/early-readers")
                    #expect(shown.status == 200, "\(replica.name) does not know the group: \(shown.status) \(shown.text)")
                    #expect(shown.json?["maxDeliveryAttempts"] as? Int == 7, "\(shown.text)")
                    // Waited for: once in a full run the returning follower answered 404 for a
                    // late message right after its end matched the leader's, and 200 in every
                    // rerun (see the session-16 note); a message never found fails here.
                    for id in late {
                        let started = ContinuousClock.now
                        let foundAtOnce = (try? await replica.hasMessage(id)) == true
                        var found = foundAtOnce
                        if !found {
                            found = await ReplicationFailoverTests.eventually(timeout: .seconds(10)) {
                                (try? await replica.hasMessage(id)) == true
                            }
                        }
                        if !foundAtOnce {
                            // Evidence for the next reader: how long the look-up lagged the copy.
                            print("\(replica.name): message \(id) found by id only after \(ContinuousClock.now - started)")
                        }
                        #expect(found, "\(replica.name) lacks \(id)")
                    }
                }
                #expect(followerEnd ?? 0 < extent.start)

                // kill -9 of the leader: one of the two leads, takes a send, and the other copies it.
                await leader.process.killHard()
                running.removeAll { $0 === leader }
                let next = try #require(
                    await ReplicationFailoverTests.settledLeader([c, returned], timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let other = next === c ? returned : c
                let after = try await Self.send(1, topic: "early", prefix: "after", to: next)
                let reached = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    (try? await other.hasMessage(after[0])) == true
                }
                #expect(reached, "a send to the new leader \(next.name) did not reach \(other.name)")
                for id in late { #expect(try await next.hasMessage(id)) }
            }
        }
    }
}
