import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// Replication lag is visible: `/metrics` on the leader has each follower's lag and the
/// high-water mark, and `sluice cluster status` prints them.
@Suite("replicated broker group: lag in metrics and cluster status", .serialized)
struct ReplicationObservabilityTests {
    typealias Broker = ReplicationFailoverTests.Broker

    /// The value of the sample `series` (name plus labels, exactly as exported) in `/metrics`.
    static func sample(_ series: String, on broker: Broker) async throws -> Double? {
        let reply = try await LoopbackHTTP.get(broker.admin + "/metrics")
        guard reply.status == 200 else { return nil }
        for line in reply.text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    @Test("a paused follower's lag grows on the leader's /metrics and in `sluice cluster status`; the other's is 0")
    func lagIsVisible() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replication-lag") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(etcd: etcd.endpoint, in: directory)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                let first = try await ReplicationFailoverTests.send(10, to: leader, prefix: "first")
                #expect(first.acked.count == 10)
                let followers = brokers.filter { $0 !== leader }
                let (paused, running) = (followers[0], followers[1])

                paused.process.send(SIGSTOP)
                defer { paused.process.send(SIGCONT) }
                let second = try await ReplicationFailoverTests.send(10, to: leader, prefix: "second")
                #expect(second.acked.count == 10, "one follower is a majority with the leader: \(second.failed)")
                let end = try #require(await leader.endOffset())

                // The gauges are published once a second from one snapshot of the replica, so wait
                // for a publication taken after the second batch (its end offset is `end`): an
                // older one can show the paused follower behind on the first batch's last record.
                var pausedLag: Double?
                var runningLag: Double?
                var publishedEnd: Double?
                var mark: Double?
                let visible = await ReplicationFailoverTests.eventually(timeout: .seconds(10)) {
                    publishedEnd = try? await Self.sample("sluice_replication_end_offset", on: leader)
                    mark = try? await Self.sample("sluice_replication_high_water_mark", on: leader)
                    pausedLag = try? await Self.sample("sluice_replication_lag_bytes{follower=\"\(paused.name)\"}", on: leader)
                    runningLag = try? await Self.sample("sluice_replication_lag_bytes{follower=\"\(running.name)\"}", on: leader)
                    return publishedEnd == Double(end) && (pausedLag ?? 0) > 0 && runningLag == 0
                }
                #expect(visible, "end \(String(describing: publishedEnd)) of \(end), lag: paused \(String(describing: pausedLag)), running \(String(describing: runningLag))")
                #expect(try await Self.sample("sluice_replication_leader", on: leader) == 1)
                #expect(mark == Double(end), "the running follower holds the whole log, so the mark is its end")

                // The Grafana dashboard's cluster row and the cluster alerts use only what a
                // replicated group's leader exports.
                let clusterMetrics = try DocsMetricsTests.documentedMetrics().filter(DocsMetricsTests.isClusterMetric)
                #expect(clusterMetrics.count >= 6, "\(clusterMetrics.sorted())")
                let exported = DocsMetricsTests.metricNames(in: try await LoopbackHTTP.get(leader.admin + "/metrics").text)
                for name in clusterMetrics.sorted() {
                    #expect(exported.contains(name), "\(name) is used in docs/ but the leader does not export it")
                }

                let status = try await TopicCommandTests.sluice(["cluster", "status"], admin: leader.admin)
                #expect(status.status == 0, "stderr: \(status.stderr)")
                let line = try #require(status.stdout.split(separator: "\n").first { $0.hasPrefix("replication: leader") })
                #expect(line.contains("high-water mark \(end)"), "\(line)")
                #expect(line.contains("\(running.name) 0 bytes"), "\(line)")
                #expect(!line.contains("\(paused.name) 0 bytes") && line.contains("\(paused.name) "), "\(line)")

                // Resumed, it catches up and its lag returns to 0.
                paused.process.send(SIGCONT)
                let caughtUp = await ReplicationFailoverTests.eventually(timeout: .seconds(20)) {
                    (try? await Self.sample("sluice_replication_lag_bytes{follower=\"\(paused.name)\"}", on: leader)) == 0
                }
                #expect(caughtUp)
            }
        }
    }
}
