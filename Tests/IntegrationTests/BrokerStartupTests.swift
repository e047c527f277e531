import Foundation
import SluiceTesting
import Testing

@Suite("Broker startup")
struct BrokerStartupTests {
    @Test("prints one line per endpoint, then answers /healthz and /readyz with 200")
    func startsAndBecomesReady() async throws {
        try await withBroker { broker in
            let lines = broker.process.outputLines
            for expected in RunningBroker.endpointLines(grpcPort: broker.grpcPort, adminPort: broker.adminPort) {
                #expect(lines.filter { $0 == expected }.count == 1, "stdout: \(lines)")
            }

            let ready = try #require(await broker.waitUntilReady(), "/readyz never answered 200")
            #expect(ready.json?["status"] as? String == "ready")
            let recovery = try #require(ready.json?["recovery"] as? [String: Any])
            #expect(recovery["recordsVerified"] as? Int == 0)

            let health = try await HTTPProbe.get("\(broker.adminURL)/healthz")
            #expect(health.status == 200)
            #expect(health.json?["status"] as? String == "ok")
            #expect(health.contentType?.hasPrefix("application/json") == true)
        }
    }

    @Test("serves Prometheus text on /metrics")
    func servesMetrics() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            let metrics = try await HTTPProbe.get("\(broker.adminURL)/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.contentType?.hasPrefix("text/plain") == true)
            // The log's size gauge is set when the writer starts, so it is there once ready.
            #expect(metrics.text.contains("sluice_commitlog_bytes"), "metrics: \(metrics.text)")
        }
    }

    @Test("publishes the half-message gauges once the transaction table is open")
    func servesTransactionGauges() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            var text = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                text = try await HTTPProbe.get("\(broker.adminURL)/metrics").text
                if text.contains("sluice_half_message_oldest_age_seconds") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(text.contains("sluice_half_messages{state=\"prepared\"} 0"), "metrics: \(text)")
            #expect(text.contains("sluice_half_messages{state=\"parked\"} 0"))
            #expect(text.contains("sluice_half_message_oldest_age_seconds 0"))
        }
    }

    @Test("answers an unknown admin path with a JSON 404")
    func unknownPathIsJSONError() async throws {
        try await withBroker { broker in
            let reply = try await HTTPProbe.get("\(broker.adminURL)/no-such-thing")
            #expect(reply.status == 404)
            let error = try #require(reply.json?["error"] as? [String: Any], "body: \(reply.text)")
            #expect(error["code"] as? String == "NOT_FOUND")
            #expect((error["message"] as? String)?.contains("/no-such-thing") == true)
        }
    }
}
