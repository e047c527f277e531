import Foundation
import Hummingbird
import NIOCore
import Prometheus
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@testable import SluiceAdmin
@testable import SluiceBroker

/// A real commit log, transaction table, coordinator and trace recorder in a temp folder, behind
/// the admin router.
struct MessageAPI {
    let stack: TransactionStack
    let handle: BrokerHandle
    let api: RouterHarness

    static func with(traced: Bool = true, _ body: (MessageAPI) async throws -> Void) async throws {
        try await withTemporaryDirectory(prefix: "sluice-message-routes") { directory in
            let stack = try await TransactionStack.open(directory, traced: traced)
            let readiness = Readiness()
            readiness.markReady(TopicRoutesTests.facts)
            let handle = BrokerHandle(coordinator: stack.coordinator)
            handle.trace = stack.trace
            let router = AdminServer.router(
                readiness: readiness, handle: handle, registry: PrometheusCollectorRegistry())
            let fixture = MessageAPI(stack: stack, handle: handle, api: RouterHarness(router))
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }
    }

    func close() async {
        await stack.trace?.drain()
        try? await stack.store.close()
        await stack.log.close()
    }

    /// Appends an ordinary message as the send path does.
    @discardableResult
    func send(
        _ messageId: String, topic: String = "orders", keys: [String] = [], tags: String = "",
        properties: [(String, String)] = [], body: ByteBuffer = ByteBuffer(string: "hello")
    ) async throws -> AppendResult {
        try await stack.log.append(
            MessageRecord(
                topic: topic, queueId: 2, messageId: messageId, tags: tags, keys: keys, properties: properties,
                body: body, bornTimestampMs: 1_700_000_000_000, messageType: RecordKind.normal.rawValue))
    }

    func messages(_ reply: RouterHarness.Reply) -> [[String: Any]] {
        reply.json?["messages"] as? [[String: Any]] ?? []
    }
}

@Suite("MessageRoutes")
struct MessageRoutesTests {
    @Test("a message by id has its position, times, tags, keys, properties and a UTF-8 body preview")
    func byID() async throws {
        try await MessageAPI.with { fixture in
            let stored = try await fixture.send(
                "M-1", keys: ["order-17", "customer-3"], tags: "created",
                properties: [("region", "eu"), ("SLUICE_BORN_HOST", "10.0.0.8")])
            let reply = try await fixture.api.send(.get, "/v1/messages/M-1")
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.json?["messageId"] as? String == "M-1")
            let message = try #require(fixture.messages(reply).first)
            #expect(fixture.messages(reply).count == 1)
            #expect(message["role"] as? String == "message")
            #expect(message["topic"] as? String == "orders")
            #expect(message["queueId"] as? Int == 2)
            #expect(message["queueOffset"] as? Int == Int(stored.queueOffset))
            #expect(message["physicalOffset"] as? Int == Int(stored.physicalOffset))
            #expect(message["size"] as? Int == stored.size)
            #expect(message["type"] as? String == "normal")
            #expect(message["bornAt"] as? String == "2023-11-14T22:13:20.000Z")
            #expect((message["storedAt"] as? String)?.hasSuffix("Z") == true)
            #expect(message["tags"] as? String == "created")
            #expect(message["keys"] as? [String] == ["order-17", "customer-3"])
            #expect(message["properties"] as? [String: String] == ["region": "eu"])
            #expect(message["systemProperties"] as? [String: String] == ["SLUICE_BORN_HOST": "10.0.0.8"])
            #expect(message["bodySize"] as? Int == 5)
            let preview = try #require(message["bodyPreview"] as? [String: Any])
            #expect(preview["encoding"] as? String == "utf8")
            #expect(preview["text"] as? String == "hello")
            #expect(preview["truncated"] as? Bool == false)
            #expect(message["transaction"] is NSNull)
        }
    }

    @Test("a binary body is previewed as base64, a long one is cut and says so")
    func previews() async throws {
        try await MessageAPI.with { fixture in
            try await fixture.send("BIN", body: ByteBuffer(bytes: [0, 1, 2, 0xFF]))
            let binary = try #require(fixture.messages(try await fixture.api.send(.get, "/v1/messages/BIN")).first)
            let binaryPreview = try #require(binary["bodyPreview"] as? [String: Any])
            #expect(binaryPreview["encoding"] as? String == "base64")
            #expect(binaryPreview["text"] as? String == "AAEC/w==")

            // 'é' is two bytes: 511 ASCII bytes and then an 'é' straddling the 512-byte cut.
            let text = String(repeating: "a", count: 511) + String(repeating: "é", count: 100)
            try await fixture.send("LONG", body: ByteBuffer(string: text))
            let long = try #require(fixture.messages(try await fixture.api.send(.get, "/v1/messages/LONG")).first)
            let longPreview = try #require(long["bodyPreview"] as? [String: Any])
            #expect(long["bodySize"] as? Int == text.utf8.count)
            #expect(longPreview["encoding"] as? String == "utf8")
            #expect(longPreview["truncated"] as? Bool == true)
            #expect(longPreview["text"] as? String == String(repeating: "a", count: 511))
        }
    }

    @Test("a transactional message shows its half and commit records and its transaction state")
    func transactional() async throws {
        try await MessageAPI.with { fixture in
            let half = HalfMessage(
                message: MessageRecord(
                    topic: "payments", queueId: 1, messageId: "TX-1", keys: ["pay-9"], body: ByteBuffer(string: "pay"),
                    bornTimestampMs: 1, messageType: RecordKind.transaction.rawValue),
                producerGroup: "pg", clientId: "client-1")
            let prepared = try await fixture.stack.coordinator.prepare(half)

            let pending = try await fixture.api.send(.get, "/v1/messages/TX-1")
            #expect(pending.status == .ok)
            let halfRecord = try #require(fixture.messages(pending).first)
            #expect(fixture.messages(pending).count == 1)
            #expect(halfRecord["role"] as? String == "half")
            #expect(halfRecord["topic"] as? String == "RMQ_SYS_TRANS_HALF_TOPIC")
            #expect((halfRecord["systemProperties"] as? [String: String])?["SLUICE_REAL_TOPIC"] == "payments")
            let pendingTransaction = try #require(halfRecord["transaction"] as? [String: Any])
            #expect(pendingTransaction["id"] as? String == prepared.transactionId)
            #expect(pendingTransaction["state"] as? String == "prepared")

            _ = try await fixture.stack.coordinator.end(
                transactionId: prepared.transactionId, resolution: .commit, source: .operator, actor: "alice",
                reason: "checked the ledger")
            let committed = fixture.messages(try await fixture.api.send(.get, "/v1/messages/TX-1"))
            #expect(committed.map { $0["role"] as? String } == ["half", "commit"])
            #expect(committed.last?["topic"] as? String == "payments")
            #expect(committed.last?["queueId"] as? Int == 1)
            let transaction = try #require(committed.last?["transaction"] as? [String: Any])
            #expect(transaction["state"] as? String == "committed")
            #expect(transaction["resolvedBy"] as? String == "alice")
            #expect(transaction["resolutionSource"] as? String == "operator")

            // The key finds the half and the committed copy, oldest first.
            let byKey = fixture.messages(try await fixture.api.send(.get, "/v1/messages?key=pay-9"))
            #expect(byKey.map { $0["role"] as? String } == ["half", "commit"])
        }
    }

    @Test("a rolled-back message shows the rollback record")
    func rolledBack() async throws {
        try await MessageAPI.with { fixture in
            let half = HalfMessage(
                message: MessageRecord(topic: "payments", queueId: 0, messageId: "TX-2", body: ByteBuffer(string: "x"), bornTimestampMs: 1),
                producerGroup: "pg", clientId: "client-1")
            let prepared = try await fixture.stack.coordinator.prepare(half)
            _ = try await fixture.stack.coordinator.end(
                transactionId: prepared.transactionId, resolution: .rollback, source: .producer, actor: "client-1")
            let records = fixture.messages(try await fixture.api.send(.get, "/v1/messages/TX-2"))
            #expect(records.map { $0["role"] as? String } == ["half", "rollback"])
            #expect((records.last?["transaction"] as? [String: Any])?["state"] as? String == "rolled-back")
        }
    }

    @Test("lookup by key lists every message with the key, and never trace records")
    func byKey() async throws {
        try await MessageAPI.with { fixture in
            try await fixture.send("K-1", keys: ["shared"])
            try await fixture.send("K-2", keys: ["shared", "other"])
            try await fixture.send("K-3", keys: ["other"])
            // Trace records carry a key; they must never show up as messages.
            try await fixture.send("trace:K-9", keys: ["shared"])
            fixture.stack.trace?.record(.received, messageId: "K-9", details: ["topic": "orders"])
            await fixture.stack.trace?.drain()

            let reply = try await fixture.api.send(.get, "/v1/messages?key=shared")
            #expect(reply.status == .ok)
            #expect(reply.json?["key"] as? String == "shared")
            #expect(fixture.messages(reply).map { $0["messageId"] as? String } == ["K-1", "K-2", "trace:K-9"])
            let traceKey = try await fixture.api.send(.get, "/v1/messages?key=trace:K-9")
            #expect(traceKey.status == .notFound, "\(traceKey.text)")

            let limited = try await fixture.api.send(.get, "/v1/messages?key=shared&limit=1")
            #expect(fixture.messages(limited).map { $0["messageId"] as? String } == ["trace:K-9"])
        }
    }

    @Test("unknown ids and keys are 404 MESSAGE_NOT_FOUND; a missing key or bad limit is 400", arguments: [
        ("/v1/messages/NOPE", 404, "MESSAGE_NOT_FOUND"),
        ("/v1/messages?key=nope", 404, "MESSAGE_NOT_FOUND"),
        ("/v1/messages/NOPE/trace", 404, "MESSAGE_NOT_FOUND"),
        ("/v1/messages", 400, "INVALID_ARGUMENT"),
        ("/v1/messages?key=", 400, "INVALID_ARGUMENT"),
        ("/v1/messages?key=a&limit=0", 400, "INVALID_ARGUMENT"),
        ("/v1/messages?key=a&limit=1001", 400, "INVALID_ARGUMENT"),
    ])
    func errors(_ path: String, _ status: Int, _ code: String) async throws {
        try await MessageAPI.with { fixture in
            try await fixture.send("EXISTS", keys: ["a"])
            let reply = try await fixture.api.send(.get, path)
            #expect(Int(reply.status.code) == status, "\(reply.text)")
            #expect(reply.errorCode == code)
            #expect(reply.errorMessage?.isEmpty == false)
        }
    }

    @Test("an id with reserved characters is found through its percent-encoded path")
    func encodedID() async throws {
        try await MessageAPI.with { fixture in
            try await fixture.send("a/b c%")
            let reply = try await fixture.api.send(.get, "/v1/messages/a%2Fb%20c%25")
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(fixture.messages(reply).first?["messageId"] as? String == "a/b c%")
        }
    }

    @Test("the trace of a transactional message lists received, half-stored and committed in order")
    func trace() async throws {
        try await MessageAPI.with { fixture in
            let trace = try #require(fixture.stack.trace)
            // "received" is the stored half message itself, read back by id: no trace record of its own.
            let prepared = try await fixture.stack.coordinator.prepare(
                HalfMessage(
                    message: MessageRecord(
                        topic: "payments", queueId: 0, messageId: "TX-9", properties: [(MessageProperty.bornHost, "10.1.1.1")],
                        body: ByteBuffer(string: "x"), bornTimestampMs: 1),
                    producerGroup: "pg", clientId: "c-1"))
            _ = try await fixture.stack.coordinator.end(
                transactionId: prepared.transactionId, resolution: .commit, source: .operator, actor: "bob",
                reason: "stuck")
            await trace.drain()

            let reply = try await fixture.api.send(.get, "/v1/messages/TX-9/trace")
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.json?["tracing"] as? Bool == true)
            let events = try #require(reply.json?["events"] as? [[String: Any]])
            #expect(events.map { $0["event"] as? String } == ["received", "half-stored", "committed"])
            #expect((events[0]["details"] as? [String: String]) == [
                "bornHost": "10.1.1.1", "clientId": "c-1", "topic": "payments", "type": "transaction",
            ])
            let committed = try #require(events[2]["details"] as? [String: String])
            #expect(committed["source"] == "operator")
            #expect(committed["actor"] == "bob")
            #expect(committed["reason"] == "stuck")
            #expect(committed["transactionId"] == prepared.transactionId)
            #expect(committed["topic"] == "payments")
            #expect((events[0]["at"] as? String)?.hasSuffix("Z") == true)
        }
    }

    @Test("with tracing off, a stored message's trace has only what the store itself knows, and says tracing is off")
    func traceOff() async throws {
        try await MessageAPI.with(traced: false) { fixture in
            try await fixture.send("QUIET")
            let reply = try await fixture.api.send(.get, "/v1/messages/QUIET/trace")
            #expect(reply.status == .ok)
            #expect(reply.json?["tracing"] as? Bool == false)
            let events = try #require(reply.json?["events"] as? [[String: Any]])
            #expect(events.map { $0["event"] as? String } == ["received"])
        }
    }
}
