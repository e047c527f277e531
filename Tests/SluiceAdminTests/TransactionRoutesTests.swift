import Foundation
import Hummingbird
import NIOCore
import Prometheus
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

@testable import SluiceAdmin
@testable import SluiceBroker

/// A real commit log, transaction table and coordinator in a temp folder, behind the admin router.
struct TransactionAPI {
    let stack: TransactionStack
    let api: RouterHarness
    /// The wall clock the routes read (ages, `olderThan`), movable forward.
    let clock: OffsetClock

    static func with(_ body: (TransactionAPI) async throws -> Void) async throws {
        try await withTemporaryDirectory(prefix: "sluice-txn-routes") { directory in
            let stack = try await TransactionStack.open(directory)
            let readiness = Readiness()
            readiness.markReady(TopicRoutesTests.facts)
            let clock = OffsetClock()
            let router = AdminServer.router(
                readiness: readiness, handle: BrokerHandle(coordinator: stack.coordinator),
                registry: PrometheusCollectorRegistry(), nowMs: { clock.nowMs() })
            let fixture = TransactionAPI(stack: stack, api: RouterHarness(router), clock: clock)
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
        await stack.coordinator.maintain()
        try? await stack.store.close()
        await stack.log.close()
    }

    /// Prepares a half message and returns its transaction id.
    func prepare(_ messageId: String, topic: String = "payments", group: String = "pg", client: String = "client-1")
        async throws -> String
    {
        let half = HalfMessage(
            message: MessageRecord(
                topic: topic, queueId: 1, messageId: messageId, body: ByteBuffer(string: "body of \(messageId)"),
                bornTimestampMs: 1),
            producerGroup: group, clientId: client)
        return try await stack.coordinator.prepare(half).transactionId
    }

    func list(_ query: String = "") async throws -> (reply: RouterHarness.Reply, ids: [String], next: String?) {
        let reply = try await api.send(.get, "/v1/transactions" + (query.isEmpty ? "" : "?" + query))
        let transactions = reply.json?["transactions"] as? [[String: Any]] ?? []
        return (reply, transactions.compactMap { $0["id"] as? String }, reply.json?["nextCursor"] as? String)
    }
}

/// The wall clock plus an offset a test sets.
final class OffsetClock: Sendable {
    private let offsetMs = Mutex<Int64>(0)
    func nowMs() -> Int64 { WallClock.nowMs() + offsetMs.withLock { $0 } }
    func advance(toOffsetMs offset: Int64) { offsetMs.withLock { $0 = offset } }
}

@Suite("TransactionRoutes")
struct TransactionRoutesTests {
    @Test("an empty broker lists no transactions and a null nextCursor")
    func empty() async throws {
        try await TransactionAPI.with { fixture in
            let reply = try await fixture.api.send(.get, "/v1/transactions")
            #expect(reply.status == .ok)
            #expect(reply.contentType?.hasPrefix("application/json") == true)
            #expect(reply.text == #"{"nextCursor":null,"transactions":[]}"#)
        }
    }

    @Test("a listed transaction has every field, with nulls for what has not happened")
    func fields() async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1", topic: "orders", group: "order-producers", client: "c-7")
            fixture.clock.advance(toOffsetMs: 192_000)
            let listed = try await fixture.list()
            let transaction = try #require((listed.reply.json?["transactions"] as? [[String: Any]])?.first)
            #expect(transaction["id"] as? String == id)
            #expect(transaction["messageId"] as? String == "M1")
            #expect(transaction["topic"] as? String == "orders")
            #expect(transaction["producerGroup"] as? String == "order-producers")
            #expect(transaction["clientId"] as? String == "c-7")
            #expect(transaction["state"] as? String == "prepared")
            let age = try #require(transaction["ageSeconds"] as? Int)
            #expect((191...200).contains(age))
            #expect((transaction["createdAt"] as? String)?.hasSuffix("Z") == true)
            #expect(transaction["checkCount"] as? Int == 0)
            #expect(transaction["nextCheckAt"] is String)
            for key in ["lastCheckAt", "resolvedAt", "resolutionSource", "resolvedBy", "reason"] {
                #expect(transaction[key] is NSNull, "\(key) should be null: \(listed.reply.text)")
            }
        }
    }

    @Test("state, topic, group and olderThan filter; rolled_back and rolled-back both work")
    func filters() async throws {
        try await TransactionAPI.with { fixture in
            let a = try await fixture.prepare("A", topic: "payments", group: "pg")
            let b = try await fixture.prepare("B", topic: "orders", group: "pg")
            let c = try await fixture.prepare("C", topic: "payments", group: "other")
            let d = try await fixture.prepare("D", topic: "payments", group: "pg")
            _ = try await fixture.stack.coordinator.end(transactionId: c, resolution: .commit, source: .producer, actor: "client-1")
            _ = try await fixture.stack.coordinator.end(transactionId: d, resolution: .rollback, source: .producer, actor: "client-1")

            #expect(try await fixture.list().ids == [a, b, c, d])
            #expect(try await fixture.list("state=prepared").ids == [a, b])
            #expect(try await fixture.list("state=committed").ids == [c])
            #expect(try await fixture.list("state=rolled-back").ids == [d])
            #expect(try await fixture.list("state=rolled_back").ids == [d])
            #expect(try await fixture.list("state=parked").ids == [])
            #expect(try await fixture.list("topic=payments").ids == [a, c, d])
            #expect(try await fixture.list("group=other").ids == [c])
            #expect(try await fixture.list("topic=payments&group=pg&state=prepared").ids == [a])
            let rolledBack = try await fixture.list("state=rolled-back")
            let state = (rolledBack.reply.json?["transactions"] as? [[String: Any]])?.first?["state"] as? String
            #expect(state == "rolled-back")

            // Created just now: none is older than a minute until the routes' clock moves on 10 minutes.
            #expect(try await fixture.list("olderThan=60s").ids == [])
            fixture.clock.advance(toOffsetMs: 600_000)
            #expect(try await fixture.list("olderThan=5m&state=prepared").ids == [a, b])
            #expect(try await fixture.list("olderThan=1h").ids == [])
            #expect(try await fixture.list("olderThan=500ms").ids == [a, b, c, d])
        }
    }

    @Test("pages follow nextCursor, oldest first, each transaction exactly once")
    func pagination() async throws {
        try await TransactionAPI.with { fixture in
            var ids: [String] = []
            for index in 0..<5 { ids.append(try await fixture.prepare("M\(index)")) }
            let first = try await fixture.list("limit=2")
            #expect(first.ids == Array(ids[0..<2]))
            let cursor1 = try #require(first.next)
            let second = try await fixture.list("limit=2&cursor=\(cursor1)")
            #expect(second.ids == Array(ids[2..<4]))
            let cursor2 = try #require(second.next)
            let third = try await fixture.list("limit=2&cursor=\(cursor2)")
            #expect(third.ids == [ids[4]])
            #expect(third.next == nil)
            #expect(third.reply.json?["nextCursor"] is NSNull)
            #expect(try await fixture.list().ids == ids)
        }
    }

    @Test("bad list parameters are 400 INVALID_ARGUMENT naming the parameter", arguments: [
        ("state=stuck", "state: expected one of prepared|parked|committed|rolled-back; got 'stuck'"),
        ("olderThan=5", "olderThan: expected a whole number and a unit"),
        ("olderThan=5 m", "olderThan:"),
        ("limit=0", "limit: expected an integer from 1 to 1000; got '0'"),
        ("limit=1001", "limit: expected an integer from 1 to 1000"),
        ("limit=ten", "limit:"),
        ("cursor=garbage", "cursor: 'garbage' is not a nextCursor"),
    ])
    func badList(_ query: String, _ expected: String) async throws {
        try await TransactionAPI.with { fixture in
            let reply = try await fixture.api.send(.get, "/v1/transactions?" + query)
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.errorCode == "INVALID_ARGUMENT")
            #expect(reply.errorMessage?.contains(expected) == true, "\(reply.text)")
        }
    }

    @Test("show returns the transaction with its check history and an empty audit")
    func show() async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1")
            let sentAt = WallClock.nowMs()
            _ = try await fixture.stack.store.markCheckSent(
                transactionId: id, clientId: "client-1", at: sentAt, answerDeadlineMs: sentAt + 5000)
            let reply = try await fixture.api.send(.get, "/v1/transactions/\(id)")
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.json?["id"] as? String == id)
            #expect(reply.json?["state"] as? String == "prepared")
            #expect(reply.json?["checkCount"] as? Int == 1)
            #expect(reply.json?["checkOutstanding"] as? Bool == true)
            let checks = try #require(reply.json?["checks"] as? [[String: Any]])
            #expect(checks.count == 1)
            #expect(checks.first?["attempt"] as? Int == 1)
            #expect(checks.first?["clientId"] as? String == "client-1")
            #expect(checks.first?["outcome"] is NSNull)
            #expect((reply.json?["audit"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("show and resolve of an unknown id are 404 TRANSACTION_NOT_FOUND")
    func unknown() async throws {
        try await TransactionAPI.with { fixture in
            let shown = try await fixture.api.send(.get, "/v1/transactions/nope")
            #expect(shown.status == .notFound)
            #expect(shown.errorCode == "TRANSACTION_NOT_FOUND")
            #expect(shown.errorMessage == "no transaction with id nope")
            let resolved = try await fixture.api.send(
                .post, "/v1/transactions/nope/resolve", body: #"{"resolution":"commit","reason":"test"}"#,
                headers: ["X-Sluice-Actor": "alice"])
            #expect(resolved.status == .notFound)
            #expect(resolved.errorCode == "TRANSACTION_NOT_FOUND")
            #expect(resolved.errorMessage?.contains("nope") == true)
        }
    }

    @Test("an operator commit appends the message, records operator, actor and reason, and is audited")
    func resolveCommit() async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1", topic: "payments")
            let queue = QueueID(topic: "payments", queueId: 1)
            #expect(fixture.stack.log.queueEntries(queue, from: 0, maxCount: 10).isEmpty)

            let reply = try await fixture.api.send(
                .post, "/v1/transactions/\(id)/resolve",
                body: #"{"resolution":"commit","reason":"producer gone; payment confirmed in ledger"}"#,
                headers: ["X-Sluice-Actor": "alice"])
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.json?["outcome"] as? String == "applied")
            let transaction = try #require(reply.json?["transaction"] as? [String: Any])
            #expect(transaction["state"] as? String == "committed")
            #expect(transaction["resolutionSource"] as? String == "operator")
            #expect(transaction["resolvedBy"] as? String == "alice")
            #expect(transaction["reason"] as? String == "producer gone; payment confirmed in ledger")
            #expect(transaction["resolvedAt"] is String)
            #expect(fixture.stack.log.queueEntries(queue, from: 0, maxCount: 10).count == 1)

            let record = try #require(try await fixture.stack.store.transaction(id: id))
            #expect(record.state == .committed)
            #expect(record.resolutionSource == .operator)

            let shown = try await fixture.api.send(.get, "/v1/transactions/\(id)")
            let audit = try #require(shown.json?["audit"] as? [[String: Any]])
            #expect(audit.count == 1, "\(shown.text)")
            #expect(audit.first?["actor"] as? String == "alice")
            #expect(audit.first?["reason"] as? String == "producer gone; payment confirmed in ledger")
            #expect((audit.first?["action"] as? String)?.contains("commit") == true)

            // The same decision again changes nothing and appends nothing.
            let again = try await fixture.api.send(
                .post, "/v1/transactions/\(id)/resolve", body: #"{"resolution":"commit","reason":"retry"}"#,
                headers: ["X-Sluice-Actor": "alice"])
            #expect(again.status == .ok)
            #expect(again.json?["outcome"] as? String == "alreadyResolved")
            #expect(fixture.stack.log.queueEntries(queue, from: 0, maxCount: 10).count == 1)
        }
    }

    @Test("without X-Sluice-Actor a resolve is 400 ACTOR_REQUIRED and changes nothing", arguments: [nil, "  "])
    func actorRequired(_ actor: String?) async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1")
            let reply = try await fixture.api.send(
                .post, "/v1/transactions/\(id)/resolve", body: #"{"resolution":"rollback","reason":"duplicate order"}"#,
                headers: actor.map { ["X-Sluice-Actor": $0] } ?? [:])
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.errorCode == "ACTOR_REQUIRED")
            #expect(reply.errorMessage?.contains("X-Sluice-Actor") == true)
            #expect(try await fixture.stack.store.transaction(id: id)?.state == .prepared)
            #expect(try await fixture.stack.store.auditLog(transactionId: id).isEmpty)
        }
    }

    @Test("the opposite of a resolution that stands is 409 TRANSACTION_CONFLICT with the reason")
    func conflict() async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1")
            _ = try await fixture.stack.coordinator.end(
                transactionId: id, resolution: .rollback, source: .producer, actor: "client-1")
            let reply = try await fixture.api.send(
                .post, "/v1/transactions/\(id)/resolve", body: #"{"resolution":"commit","reason":"oops"}"#,
                headers: ["X-Sluice-Actor": "bob"])
            #expect(reply.status == .conflict, "\(reply.text)")
            #expect(reply.errorCode == "TRANSACTION_CONFLICT")
            #expect(reply.errorMessage?.contains(id) == true, "\(reply.text)")
            #expect(try await fixture.stack.store.transaction(id: id)?.state == .rolledBack)
        }
    }

    @Test("a resolve without a reason or with a bad resolution is 400 and changes nothing", arguments: [
        (#"{"resolution":"commit"}"#, "reason: required"),
        (#"{"resolution":"commit","reason":"   "}"#, "reason: required"),
        (#"{"reason":"why"}"#, "resolution: required"),
        (#"{"resolution":"maybe","reason":"why"}"#, "resolution: expected commit or rollback; got 'maybe'"),
        ("not json", "request body: expected JSON"),
    ])
    func badResolve(_ body: String, _ expected: String) async throws {
        try await TransactionAPI.with { fixture in
            let id = try await fixture.prepare("M1")
            let reply = try await fixture.api.send(
                .post, "/v1/transactions/\(id)/resolve", body: body, headers: ["X-Sluice-Actor": "alice"])
            #expect(reply.status == .badRequest, "\(reply.text)")
            #expect(reply.errorCode == "INVALID_ARGUMENT")
            #expect(reply.errorMessage?.contains(expected) == true, "\(reply.text)")
            #expect(try await fixture.stack.store.transaction(id: id)?.state == .prepared)
        }
    }

    @Test("every transaction route is 503 NOT_READY while the store is still opening", arguments: [
        (HTTPRequest.Method.get, "/v1/transactions", nil as String?),
        (.get, "/v1/transactions/x", nil),
        (.post, "/v1/transactions/x/resolve", #"{"resolution":"commit","reason":"r"}"#),
    ])
    func notReady(_ method: HTTPRequest.Method, _ path: String, _ body: String?) async throws {
        let api = RouterHarness(
            AdminServer.router(readiness: Readiness(), handle: BrokerHandle(), registry: PrometheusCollectorRegistry()))
        let reply = try await api.send(method, path, body: body)
        #expect(reply.status == .serviceUnavailable)
        #expect(reply.errorCode == "NOT_READY")
    }
}
