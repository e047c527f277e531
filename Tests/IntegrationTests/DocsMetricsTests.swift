import Foundation
import SluiceTesting
import SluiceWire
import Testing

/// The Grafana dashboard and the alert rules in `docs/` use only metrics a real broker exports.
@Suite("docs: dashboard and alert metrics")
struct DocsMetricsTests {
    static var docsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs").path
    }

    /// Metric names in `text`, histogram series folded to their metric.
    static func metricNames(in text: String) -> Set<String> {
        let regex = try! Regex("sluice_[a-z_]+")
        return Set(text.matches(of: regex).map { match in
            var name = String(text[match.range])
            for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) {
                name.removeLast(suffix.count)
            }
            return name
        })
    }

    /// Metrics only a cluster broker exports (`--etcd`, `--replicas`): checked on the leader of a
    /// three-broker group by `ReplicationObservabilityTests`.
    static func isClusterMetric(_ name: String) -> Bool {
        name.hasPrefix("sluice_cluster_") || name.hasPrefix("sluice_replication_")
    }

    /// Every metric name the Grafana dashboard and the alert rules use.
    static func documentedMetrics() throws -> Set<String> {
        let dashboardText = try String(contentsOfFile: Self.docsDirectory + "/grafana-dashboard.json", encoding: .utf8)
        let alertsText = try String(contentsOfFile: Self.docsDirectory + "/alerts.yml", encoding: .utf8)
        return Self.metricNames(in: dashboardText).union(Self.metricNames(in: alertsText))
    }

    @Test("every metric in grafana-dashboard.json and alerts.yml is exported by a broker after a transaction and a receive")
    func documentedMetricsExist() async throws {
        let dashboardText = try String(contentsOfFile: Self.docsDirectory + "/grafana-dashboard.json", encoding: .utf8)
        let alertsText = try String(contentsOfFile: Self.docsDirectory + "/alerts.yml", encoding: .utf8)
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(dashboardText.utf8)) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let graphs = panels.filter { $0["type"] as? String != "row" }
        #expect(graphs.count >= 10)
        for panel in graphs {
            #expect((panel["targets"] as? [[String: Any]])?.isEmpty == false, "\(panel["title"] ?? "?") has no query")
        }
        #expect(alertsText.contains("sluice_half_message_oldest_age_seconds) > 5 * 60"))

        let documented = try Self.documentedMetrics()
        #expect(documented.contains("sluice_half_message_oldest_age_seconds"))
        #expect(documented.contains("sluice_replication_lag_bytes"), "the cluster row and alerts are checked elsewhere")
        let used = documented.filter { !Self.isClusterMetric($0) }

        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("payments", type: "transaction")
            try await broker.createGroup("docs", consumeFrom: "earliest")
            try await GRPCProducer.with(broker) { producer in
                let entry = try await producer.send(topic: "payments", type: .transaction, messageId: "DOCS-1", body: "x")
                try await producer.end(
                    transactionId: entry.transactionID, messageId: entry.messageID, topic: "payments", commit: true)
                let received = try await producer.receive(group: "docs", topic: "payments")
                #expect(received.map(\.systemProperties.messageID) == ["DOCS-1"])
            }
            // Group gauges are published every few seconds.
            var exported: Set<String> = []
            let deadline = ContinuousClock.now + .seconds(20)
            repeat {
                exported = Self.metricNames(in: try await HTTPProbe.get("\(broker.adminURL)/metrics").text)
                if used.isSubset(of: exported) { break }
                try await Task.sleep(for: .milliseconds(250))
            } while ContinuousClock.now < deadline
            for name in used.sorted() {
                #expect(exported.contains(name), "\(name) is used in docs/ but not exported")
            }
        }
    }
}
