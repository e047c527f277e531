import Foundation
import HTTPTypes
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

@Suite("admin access control")
struct AdminAccessTests {
    static let token = "s3cret-token-0123456789"

    static func harness(token: String? = Self.token) -> RouterHarness {
        let readiness = Readiness()
        readiness.markReady(TopicRoutesTests.facts)
        return RouterHarness(
            AdminServer.router(
                readiness: readiness, handle: BrokerHandle(topics: MemoryTopicRegistry()),
                registry: PrometheusCollectorRegistry(), adminToken: token))
    }

    @Test("with a token, a request without it, with another one or another scheme is 401 JSON", arguments: [
        nil, "Bearer wrong-token-0123456789", "Bearer s3cret-token-012345678", "Bearer s3cret-token-01234567890",
        "Basic czNjcmV0LXRva2Vu", "Bearer", "bearer ", "s3cret-token-0123456789",
    ])
    func refused(_ authorization: String?) async throws {
        let api = Self.harness()
        for (method, path) in [
            (HTTPRequest.Method.get, "/v1/topics"), (.get, "/metrics"), (.get, "/v1/transactions"),
            (.get, "/v1/messages/x"), (.delete, "/v1/topics/t"), (.get, "/no/such/route"),
        ] {
            let reply = try await api.send(method, path, headers: authorization.map { ["Authorization": $0] } ?? [:])
            #expect(reply.status == .unauthorized, "\(method) \(path): \(reply.text)")
            #expect(reply.errorCode == "UNAUTHORIZED")
            #expect(reply.contentType?.hasPrefix("application/json") == true)
            #expect(reply.errorMessage?.contains(Self.token) == false)
        }
    }

    @Test("the right token opens every route; the scheme is case-insensitive")
    func accepted() async throws {
        let api = Self.harness()
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let reply = try await api.send(.get, "/v1/topics", headers: ["Authorization": "\(scheme) \(Self.token)"])
            #expect(reply.status == .ok, "\(reply.text)")
        }
        let metrics = try await api.send(.get, "/metrics", headers: ["Authorization": "Bearer \(Self.token)"])
        #expect(metrics.status == .ok)
        let unknown = try await api.send(.get, "/nope", headers: ["Authorization": "Bearer \(Self.token)"])
        #expect(unknown.status == .notFound)
    }

    @Test("the health probes answer without a token")
    func probesOpen() async throws {
        let api = Self.harness()
        #expect(try await api.send(.get, "/healthz").status == .ok)
        #expect(try await api.send(.get, "/readyz").status == .ok)
    }

    @Test("the dashboard's page, script and style are served without a token, under a strict CSP", arguments: [
        ("/", "text/html", "/dashboard/app.js"), ("/dashboard/app.js", "text/javascript", "function route()"),
        ("/dashboard/app.css", "text/css", "--accent"),
    ])
    func dashboardIsPublic(_ path: String, _ type: String, _ content: String) async throws {
        let reply = try await Self.harness().send(.get, path)
        #expect(reply.status == .ok)
        #expect(reply.contentType?.hasPrefix(type) == true)
        #expect(reply.text.contains(content))
        #expect(reply.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
        #expect(reply.headers[.xContentTypeOptions] == "nosniff")
    }

    @Test("a 401 tells the client how to authenticate")
    func challenge() async throws {
        let reply = try await Self.harness().send(.get, "/v1/topics")
        #expect(reply.status == .unauthorized)
        #expect(reply.headers[.wwwAuthenticate] == #"Bearer realm="sluice-admin""#)
    }

    @Test("without a token the API is open (the configuration allows that only on loopback)")
    func open() async throws {
        #expect(try await Self.harness(token: nil).send(.get, "/v1/topics").status == .ok)
    }

    @Test("token comparison: equal strings match; any difference in a byte or the length does not", arguments: [
        ("abcdefghijklmnop", true), ("abcdefghijklmnoq", false), ("Abcdefghijklmnop", false),
        ("abcdefghijklmno", false), ("abcdefghijklmnopq", false), ("", false),
        ("abcdefghijklmnopabcdefghijklmnop", false),
    ])
    func compare(_ candidate: String, _ matches: Bool) {
        #expect(AdminToken("abcdefghijklmnop").matches(candidate) == matches)
    }

    @Test("a topic delete is audited with its actor; GET /v1/audit lists it newest first")
    func auditedDelete() async throws {
        try await withTemporaryDirectory(prefix: "sluice-audit") { directory in
            let stack = try await TransactionStack.open(directory)
            let topics = try await SQLiteTopicRegistry.open(path: directory + "/transactions.sqlite", logger: Logger(label: "t"))
            let readiness = Readiness()
            readiness.markReady(TopicRoutesTests.facts)
            let api = RouterHarness(
                AdminServer.router(
                    readiness: readiness, handle: BrokerHandle(topics: topics, coordinator: stack.coordinator),
                    registry: PrometheusCollectorRegistry()))
            _ = try await api.send(.post, "/v1/topics", body: #"{"name":"orders","type":"fifo","queues":4}"#)
            let deleted = try await api.send(.delete, "/v1/topics/orders", headers: ["X-Sluice-Actor": "dana"])
            #expect(deleted.status == .noContent, "\(deleted.text)")

            let audit = try await api.send(.get, "/v1/audit")
            #expect(audit.status == .ok)
            let entry = try #require((audit.json?["audit"] as? [[String: Any]])?.first)
            #expect(entry["actor"] as? String == "dana")
            #expect(entry["action"] as? String == "topic.delete")
            #expect(entry["detail"] as? String == "topic orders (fifo, 4 queues)")
            #expect(entry["transactionId"] is NSNull)
            #expect((try await api.send(.get, "/v1/audit?limit=0")).errorCode == "INVALID_ARGUMENT")

            await topics.close()
            try? await stack.store.close()
            await stack.log.close()
        }
    }
}
