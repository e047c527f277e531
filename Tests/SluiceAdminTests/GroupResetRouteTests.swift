import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@testable import SluiceAdmin
@testable import SluiceBroker

@Suite("GroupRoutes: consumeFrom and reset-offset")
struct GroupResetRouteTests {
    /// A real log, transaction table (for the audit log), topics and consumer groups behind the router.
    static func with(_ body: (RouterHarness, TransactionStack, SQLiteTopicRegistry) async throws -> Void) async throws {
        try await withTemporaryDirectory(prefix: "sluice-group-routes") { directory in
            let stack = try await TransactionStack.open(directory)
            var logger = Logger(label: "group-routes")
            logger.logLevel = .critical
            let path = directory + "/transactions.sqlite"
            let topics = try await SQLiteTopicRegistry.open(path: path, logger: logger)
            let engine = try await ConsumptionEngine.open(path: path, log: stack.log, topics: topics, logger: logger)
            let readiness = Readiness()
            readiness.markReady(TopicRoutesTests.facts)
            let router = AdminServer.router(
                readiness: readiness, handle: BrokerHandle(topics: topics, coordinator: stack.coordinator, consumption: engine),
                registry: PrometheusCollectorRegistry())
            do {
                try await body(RouterHarness(router), stack, topics)
            } catch {
                await engine.close()
                await topics.close()
                try? await stack.store.close()
                await stack.log.close()
                throw error
            }
            await engine.close()
            await topics.close()
            try? await stack.store.close()
            await stack.log.close()
        }
    }

    static let actor = ["X-Sluice-Actor": "ops-bob"]

    @Test("consumeFrom: latest by default, earliest or an RFC 3339 time when asked, anything else refused")
    func consumeFrom() async throws {
        try await Self.with { api, _, _ in
            let plain = try await api.send(.post, "/v1/groups", body: #"{"name":"plain"}"#)
            #expect(plain.status == .created && plain.json?["consumeFrom"] as? String == "latest", "\(plain.text)")
            let timed = try await api.send(.post, "/v1/groups", body: #"{"name":"timed","consumeFrom":"2026-12-05T08:00:00+01:00"}"#)
            #expect(timed.json?["consumeFrom"] as? String == "2026-12-05T07:00:00.000Z", "\(timed.text)")
            let bad = try await api.send(.post, "/v1/groups", body: #"{"name":"bad","consumeFrom":"tomorrow"}"#)
            #expect(bad.status == .badRequest && bad.errorMessage?.contains("consumeFrom") == true)
        }
    }

    @Test("a reset moves every queue, answers old and new offsets and writes an audit row with actor, reason and offsets")
    func resetAudited() async throws {
        try await Self.with { api, stack, topics in
            _ = try await topics.create(name: "orders", type: .normal, queueCount: 2)
            for index in 0..<3 {
                _ = try await stack.log.append(
                    MessageRecord(topic: "orders", queueId: UInt32(index % 2), body: ByteBuffer(string: "m\(index)"), bornTimestampMs: 0))
            }
            _ = try await api.send(.post, "/v1/groups", body: #"{"name":"billing"}"#)
            let reply = try await api.send(
                .post, "/v1/groups/billing/reset-offset", body: #"{"topic":"orders","to":"earliest","reason":"replay the backlog"}"#,
                headers: Self.actor)
            #expect(reply.status == .ok, "\(reply.text)")
            let queues = reply.json?["queues"] as? [[String: Any]] ?? []
            // The group had not subscribed yet: it starts at the end (latest), and moves back from there.
            #expect(queues.map { $0["from"] as? Int } == [2, 1])
            #expect(queues.map { $0["to"] as? Int } == [0, 0])
            let audit = try await stack.store.recentAudit(limit: 5)
            let row = try #require(audit.first { $0.action == "group.reset-offset" })
            #expect(row.actor == "ops-bob" && row.reason == "replay the backlog")
            #expect(row.detail == "consumer group billing topic orders to earliest: queue 0 2->0, queue 1 1->0")
        }
    }

    @Test("refused: no actor, unknown group, unknown topic, a bad time, a missing topic, a body that is not JSON")
    func refusals() async throws {
        try await Self.with { api, stack, topics in
            _ = try await topics.create(name: "orders", type: .normal, queueCount: 1)
            _ = try await api.send(.post, "/v1/groups", body: #"{"name":"billing"}"#)
            let body = #"{"topic":"orders","to":"earliest"}"#
            let noActor = try await api.send(.post, "/v1/groups/billing/reset-offset", body: body)
            #expect(noActor.status == .badRequest && noActor.errorCode == "ACTOR_REQUIRED")
            let noGroup = try await api.send(.post, "/v1/groups/nobody/reset-offset", body: body, headers: Self.actor)
            #expect(noGroup.status == .notFound && noGroup.errorCode == "GROUP_NOT_FOUND")
            let noTopic = try await api.send(
                .post, "/v1/groups/billing/reset-offset", body: #"{"topic":"nope","to":"earliest"}"#, headers: Self.actor)
            #expect(noTopic.status == .notFound && noTopic.errorCode == "TOPIC_NOT_FOUND")
            for bad in [#"{"topic":"orders","to":"2026-13-45T99:00:00Z"}"#, #"{"topic":"orders"}"#, #"{"to":"latest"}"#, "nope"] {
                let reply = try await api.send(.post, "/v1/groups/billing/reset-offset", body: bad, headers: Self.actor)
                #expect(reply.status == .badRequest && reply.errorCode == "INVALID_ARGUMENT", "\(bad): \(reply.text)")
            }
            let audit = try await stack.store.recentAudit(limit: 10)
            #expect(!audit.contains { $0.action == "group.reset-offset" }, "refused resets leave no audit row")
        }
    }
}
