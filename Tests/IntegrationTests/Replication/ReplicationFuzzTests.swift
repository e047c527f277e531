import Foundation
import SluiceFuzz
import SluiceTesting
import SluiceWire
import Testing

/// The replication port under a bounded seeded fuzz (`make fuzz` runs the same fuzzer longer
/// against release brokers, `sluice-bench fuzz-replication`): a real etcd, a real leader and a
/// real follower (`--replicas 2`), both replication ports hammered at once with edge values,
/// damaged frames, garbage, requests out of order and a connection storm. Then both brokers must
/// be alive, still leader and follower, still answering gRPC, the follower still copying the
/// leader, their memory not run away, and the leader's lag metrics bounded.
///
/// `SLUICE_FUZZ_SEED` replays a run (the seed is printed first); `SLUICE_REPLICATION_FUZZ_REQUESTS`
/// sets its length (default 10,000).
@Suite("the replication port survives a structured fuzz, leader and follower", .serialized)
struct ReplicationFuzzTests {
    static var requests: Int { Int(ProcessInfo.processInfo.environment["SLUICE_REPLICATION_FUZZ_REQUESTS"] ?? "") ?? 10_000 }

    /// Resident memory each broker may grow by: the port reads at most 64 KiB per frame from
    /// at most 64 connections, and its tables are bounded; an unbounded buffer or table over
    /// thousands of requests would blow far past it.
    static let rssGrowthLimitKilobytes = 160 * 1024

    @Test("hostile frames on the leader's and the follower's replication port, then both alive, serving and bounded")
    func fuzz() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("replication fuzz seed \(seed) (replay: SLUICE_FUZZ_SEED=\(seed)), \(Self.requests) requests")
        try await withTemporaryDirectory(prefix: "sluice-replication-fuzz") { directory in
            let pair = try await ReplicatedBrokerPair.start(executable: try BuildProducts.executable("sluice-broker"), directory: directory)
            do {
                try await Self.fuzzAndCheck(pair, seed: seed)
            } catch {
                await pair.stop()
                throw error
            }
            await pair.stop()
        }
    }

    private static func fuzzAndCheck(_ pair: ReplicatedBrokerPair, seed: UInt64) async throws {
        let (leader, follower) = try #require(await pair.settled(timeout: .seconds(30)))
        // Records in the leader's log (and copied) across a segment boundary, so fetches and
        // edge offsets reach real bytes and the end of a segment.
        try await pair.fill(leader, messages: 1_000)
        #expect(await caughtUp(pair, leader, follower), "the follower did not copy the leader before the fuzz")
        let before = [leader, follower].map { ProcessMemory.residentKilobytes(pid: $0.process.pid) }

        var configuration = ReplicationFuzzer.Configuration(
            targets: [(leader.name, leader.replicationPort), (follower.name, follower.replicationPort)], seed: seed,
            requests: requests, key: pair.replicationKey)
        configuration.progress = { FileHandle.standardError.write(Data("replication fuzz: \($0)\n".utf8)) }
        let report = try await ReplicationFuzzer(configuration).run()
        print(report.summary)
        let after = [leader, follower].map { ProcessMemory.residentKilobytes(pid: $0.process.pid) }
        for (index, member) in [leader, follower].enumerated() {
            print("  \(member.name) RSS: \(before[index].map { "\($0) kB" } ?? "?") before, \(after[index].map { "\($0) kB" } ?? "?") after")
        }

        for member in [leader, follower] {
            #expect(
                member.process.isRunning,
                "broker \(member.name) died under the replication fuzz (seed \(seed)): \(ReplicatedBrokerPair.crashReport(member.process.standardErrorText))"
            )
        }
        #expect(report.faults.isEmpty, "seed \(seed): \(report.faults.prefix(5))")
        #expect(report.answeringAfter.values.allSatisfy { $0 }, "seed \(seed): \(report.answeringAfter)")
        #expect(report.leaderAfter[leader.name] == true && report.leaderAfter[follower.name] == false, "\(report.leaderAfter)")
        #expect(report.answers["refusal: malformedRequest", default: 0] > report.requests / 10)
        // The storm opened 16 more connections than the port serves.
        #expect(report.storm.refusedOverloaded >= 16, "\(report.storm)")
        #expect(report.storm.served + report.storm.refusedOverloaded == report.storm.opened, "\(report.storm)")
        // Hellos left hanging take at most the port's 16 handshake places; the rest are turned away.
        #expect(report.storm.hangingChallenged <= 16 && report.storm.hangingRefused >= report.storm.opened - 16, "\(report.storm)")
        // Strangers were refused (none served: that would be a fault), and never deposed the leader (checked above).
        #expect(report.answers["refusal: unauthenticated", default: 0] > 0, "\(report.answers)")
        for (index, member) in [leader, follower].enumerated() {
            if let start = before[index], let end = after[index] {
                #expect(end - start < rssGrowthLimitKilobytes, "\(member.name) RSS grew from \(start) kB to \(end) kB")
            }
        }

        // Still serving: the leader takes a send, the follower answers a route query, and
        // the follower copies what the leader took.
        try await GRPCProducer.with(port: leader.grpcPort) { producer in
            _ = try await producer.send(topic: "fuzzed", type: .normal, messageId: "after", body: "after the fuzz")
        }
        let followerRoute = try await GRPCProducer.with(port: follower.grpcPort) { try await $0.routeCode("fuzzed") }
        #expect(followerRoute == .ok)
        #expect(await caughtUp(pair, leader, follower), "the follower stopped copying the leader after the fuzz")
        // Fetches named hundreds of nodes: the leader's follower table and lag series stay bounded.
        let metrics = try await LoopbackHTTP.get(leader.adminURL + "/metrics")
        let lagSeries = metrics.text.split(separator: "\n").filter { $0.hasPrefix("sluice_replication_lag_bytes{") }.count
        print("  lag series on the leader: \(lagSeries)")
        #expect(lagSeries <= 65, "\(lagSeries) lag series on the leader")
    }

    static func caughtUp(_ pair: ReplicatedBrokerPair, _ leader: ReplicatedBrokerPair.Member, _ follower: ReplicatedBrokerPair.Member)
        async -> Bool
    {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let end = await pair.endOffset(leader), end > 0, await pair.endOffset(follower) == end { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
