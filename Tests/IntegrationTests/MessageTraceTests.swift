import Foundation
import SluiceTesting
import SluiceWire
import Testing

/// Message lookup and trace against a real broker: messages sent over gRPC, read back over the
/// admin API and with `sluice message`.
@Suite("message lookup and trace")
struct MessageTraceTests {
    /// Polls the trace of `messageId` until it has `count` events (the recorder stores them a few
    /// milliseconds after the fact), at most 20 s.
    static func trace(_ broker: RunningBroker, _ messageId: String, count: Int) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(20)
        var events: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            let reply = try await HTTPProbe.get("\(broker.adminURL)/v1/messages/\(messageId)/trace")
            events = reply.json?["events"] as? [[String: Any]] ?? []
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(50))
        }
        return events
    }

    @Test("a transaction sent over gRPC and committed has a trace: received, half-stored, committed")
    func transactionTrace() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("payments", type: "transaction")
            let (transactionId, messageId) = try await GRPCProducer.with(broker, clientId: "payer@7") { producer in
                let entry = try await producer.send(
                    topic: "payments", type: .transaction, messageId: "TRACE-TX-1", body: "pay 10", keys: ["invoice-5"])
                try await producer.end(
                    transactionId: entry.transactionID, messageId: entry.messageID, topic: "payments", commit: true)
                return (entry.transactionID, entry.messageID)
            }
            #expect(messageId == "TRACE-TX-1")

            let events = try await Self.trace(broker, messageId, count: 3)
            #expect(events.map { $0["event"] as? String } == ["received", "half-stored", "committed"], "\(events)")
            let received = events.first?["details"] as? [String: String] ?? [:]
            #expect(received["topic"] == "payments")
            #expect(received["type"] == "transaction")
            #expect(received["clientId"] == "payer@7")
            #expect(received["bornHost"] == "10.9.8.7")
            let committed = events.last?["details"] as? [String: String] ?? [:]
            #expect(committed["source"] == "producer")
            #expect(committed["actor"] == "payer@7")
            #expect(committed["transactionId"] == transactionId)
            #expect(committed["topic"] == "payments")

            // The trace queue is not a topic anyone can see or route to.
            let topics = try await HTTPProbe.get("\(broker.adminURL)/v1/topics")
            #expect(!topics.text.contains("RMQ_SYS_TRACE_TOPIC"), "\(topics.text)")
            let traceTopic = try await HTTPProbe.get("\(broker.adminURL)/v1/topics/RMQ_SYS_TRACE_TOPIC")
            #expect(traceTopic.status == 404)
            let code = try await GRPCProducer.with(broker) { try await $0.routeCode("RMQ_SYS_TRACE_TOPIC") }
            #expect(code == .topicNotFound)

            // The message API shows the half and the committed copy with the transaction's state.
            let message = try await HTTPProbe.get("\(broker.adminURL)/v1/messages/\(messageId)")
            let records = message.json?["messages"] as? [[String: Any]] ?? []
            #expect(records.map { $0["role"] as? String } == ["half", "commit"], "\(message.text)")
            #expect((records.last?["transaction"] as? [String: Any])?["state"] as? String == "committed")

            let metrics = try await HTTPProbe.get("\(broker.adminURL)/metrics")
            #expect(metrics.text.contains(#"sluice_messages_in_total{topic="payments",type="transaction"} 1"#), "\(metrics.text)")
            // Every metric of the interface that exists before consumption is built.
            for name in [
                "sluice_half_messages{state=\"prepared\"}", "sluice_half_message_oldest_age_seconds",
                "sluice_transactions_total{resolution=\"commit\",source=\"producer\"} 1",
                "sluice_transaction_checks_total", "sluice_transaction_finish_seconds_bucket{le=\"3600.0\"} 1",
                "sluice_commitlog_bytes", "sluice_append_seconds_bucket", "sluice_fsync_seconds_bucket",
                "sluice_trace_events_total",
            ] {
                #expect(metrics.text.contains(name), "\(name) missing from /metrics")
            }
        }
    }

    @Test("with --trace off nothing is recorded: the trace has only the stored message, and says tracing is off")
    func traceOff() async throws {
        try await withBroker(extraArguments: ["--trace", "off"]) { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            _ = try await GRPCProducer.with(broker) { producer in
                try await producer.send(topic: "orders", type: .normal, messageId: "QUIET-1", body: "x")
            }
            let reply = try await HTTPProbe.get("\(broker.adminURL)/v1/messages/QUIET-1/trace")
            #expect(reply.status == 200)
            #expect(reply.json?["tracing"] as? Bool == false)
            let events = try #require(reply.json?["events"] as? [[String: Any]])
            #expect(events.map { $0["event"] as? String } == ["received"])
            #expect((events.first?["details"] as? [String: String])?["clientId"] == nil, "no client id is kept with tracing off")
        }
    }

    @Test("sluice message show, find and trace print tables and JSON, and exit 1 for an unknown id")
    func cli() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            _ = try await GRPCProducer.with(broker, clientId: "shop@1") { producer in
                _ = try await producer.send(
                    topic: "orders", type: .normal, messageId: "CLI-1", body: "order one", keys: ["cart-1"], tag: "new")
                return try await producer.send(
                    topic: "orders", type: .normal, messageId: "CLI-2", body: "order two", keys: ["cart-1"])
            }
            let admin = broker.adminURL

            let show = try await TopicCommandTests.sluice(["message", "show", "CLI-1"], admin: admin)
            #expect(show.status == 0, "stderr: \(show.stderr)")
            #expect(show.stdout.contains("[1] message in orders#"), "\(show.stdout)")
            #expect(show.stdout.contains("Keys:"), "\(show.stdout)")
            #expect(show.stdout.contains("cart-1"), "\(show.stdout)")
            #expect(show.stdout.contains("9 bytes, \"order one\""), "\(show.stdout)")
            #expect(show.stdout.contains("SLUICE_BORN_HOST=10.9.8.7"), "\(show.stdout)")

            let showJSON = try await TopicCommandTests.sluice(["message", "show", "CLI-1", "--json"], admin: admin)
            #expect(showJSON.status == 0)
            #expect(((showJSON.json?["messages"] as? [[String: Any]])?.first)?["tags"] as? String == "new")

            let find = try await TopicCommandTests.sluice(["message", "find", "--key", "cart-1"], admin: admin)
            #expect(find.status == 0, "stderr: \(find.stderr)")
            let lines = find.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("MESSAGE ID") == true, "\(find.stdout)")
            #expect(lines.dropFirst().first?.hasPrefix("CLI-1") == true, "\(find.stdout)")
            #expect(lines.dropFirst(2).first?.hasPrefix("CLI-2") == true, "\(find.stdout)")
            #expect(lines.last == "2 records, oldest first", "\(find.stdout)")

            _ = try await Self.trace(broker, "CLI-1", count: 1)
            let trace = try await TopicCommandTests.sluice(["message", "trace", "CLI-1"], admin: admin)
            #expect(trace.status == 0, "stderr: \(trace.stderr)")
            #expect(trace.stdout.hasPrefix("AT"), "\(trace.stdout)")
            #expect(trace.stdout.contains("received"), "\(trace.stdout)")
            #expect(trace.stdout.contains("clientId=shop@1"), "\(trace.stdout)")
            let traceJSON = try await TopicCommandTests.sluice(["message", "trace", "CLI-1", "--json"], admin: admin)
            #expect((traceJSON.json?["events"] as? [[String: Any]])?.first?["event"] as? String == "received")

            let missing = try await TopicCommandTests.sluice(["message", "show", "NO-SUCH"], admin: admin)
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("MESSAGE_NOT_FOUND"), "\(missing.stderr)")
            let missingKey = try await TopicCommandTests.sluice(["message", "find", "--key", "nope", "--json"], admin: admin)
            #expect(missingKey.status == 1)
            #expect((missingKey.json?["error"] as? [String: Any])?["code"] as? String == "MESSAGE_NOT_FOUND")
        }
    }
}
