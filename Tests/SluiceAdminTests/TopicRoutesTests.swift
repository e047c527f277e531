import Foundation
import Hummingbird
import Prometheus
import Synchronization
import Testing

@testable import SluiceAdmin
@testable import SluiceBroker

/// An in-memory registry with the same contract as `SQLiteTopicRegistry`, for the routes alone.
final class MemoryTopicRegistry: TopicRegistry {
    private let topics = Mutex([String: TopicDefinition]())
    /// When set, every call fails with it (a broken disk).
    let failure: BrokerError?

    init(failure: BrokerError? = nil) { self.failure = failure }

    func topic(named name: String) async throws(BrokerError) -> TopicDefinition? {
        if let failure { throw failure }
        return topics.withLock { $0[name] }
    }

    func create(name: String, type: TopicMessageType, queueCount: Int) async throws(BrokerError) -> TopicDefinition {
        if let failure { throw failure }
        try TopicName.validate(name)
        try TopicDefinition.validateQueueCount(queueCount)
        let result: Result<TopicDefinition, BrokerError> = topics.withLock { topics in
            if let existing = topics[name] {
                guard existing.messageType == type, existing.queueCount == queueCount else {
                    return .failure(
                        BrokerError(.topicExists, "topic '\(name)' already exists with type \(existing.messageType)"))
                }
                return .success(existing)
            }
            let topic = TopicDefinition(name: name, messageType: type, queueCount: queueCount, createdAtMs: 42)
            topics[name] = topic
            return .success(topic)
        }
        return try result.get()
    }

    func list() async throws(BrokerError) -> [TopicDefinition] {
        if let failure { throw failure }
        return topics.withLock { $0.values.sorted { $0.name < $1.name } }
    }

    func delete(named name: String) async throws(BrokerError) -> Bool {
        if let failure { throw failure }
        return topics.withLock { $0.removeValue(forKey: name) != nil }
    }
}

@Suite("TopicRoutes")
struct TopicRoutesTests {
    static let facts: RecoveryFacts = {
        let json =
            #"{"previousShutdownWasClean":true,"recordsVerified":0,"endOffset":0,"truncatedTailBytes":0,"#
            + #""damagedRanges":0,"queueIndexEntriesRebuilt":0,"durationSeconds":0}"#
        return try! JSONDecoder().decode(RecoveryFacts.self, from: Data(json.utf8))
    }()

    /// The admin router with a ready store whose registry is `registry`.
    static func harness(_ registry: any TopicRegistry = MemoryTopicRegistry()) -> RouterHarness {
        let readiness = Readiness()
        readiness.markReady(facts)
        return RouterHarness(
            AdminServer.router(
                readiness: readiness, handle: BrokerHandle(topics: registry), registry: PrometheusCollectorRegistry()))
    }

    @Test("POST creates (201), repeats identically (200), GET shows and lists, DELETE removes (204)")
    func lifecycle() async throws {
        let api = Self.harness()
        let created = try await api.send(.post, "/v1/topics", body: #"{"name":"orders","type":"fifo","queues":4}"#)
        #expect(created.status == .created, "\(created.text)")
        #expect(created.contentType?.hasPrefix("application/json") == true)
        #expect(created.json?["name"] as? String == "orders")
        #expect(created.json?["type"] as? String == "fifo")
        #expect(created.json?["queues"] as? Int == 4)
        #expect(created.json?["createdAtMs"] as? Int == 42)

        let again = try await api.send(.post, "/v1/topics", body: #"{"name":"orders","type":"fifo","queues":4}"#)
        #expect(again.status == .ok, "\(again.text)")

        let shown = try await api.send(.get, "/v1/topics/orders")
        #expect(shown.status == .ok)
        #expect(shown.text == created.text)

        let listed = try await api.send(.get, "/v1/topics")
        #expect(listed.status == .ok)
        let topics = try #require(listed.json?["topics"] as? [[String: Any]])
        #expect(topics.map { $0["name"] as? String } == ["orders"])

        let anonymous = try await api.send(.delete, "/v1/topics/orders")
        #expect(anonymous.status == .badRequest)
        #expect(anonymous.errorCode == "ACTOR_REQUIRED")
        #expect(try await api.send(.get, "/v1/topics/orders").status == .ok)
        let deleted = try await api.send(.delete, "/v1/topics/orders", headers: ["X-Sluice-Actor": "alice"])
        #expect(deleted.status == .noContent)
        let gone = try await api.send(.get, "/v1/topics/orders")
        #expect(gone.status == .notFound)
        #expect(gone.errorCode == "TOPIC_NOT_FOUND")
        #expect((try await api.send(.get, "/v1/topics")).text == #"{"topics":[]}"#)
    }

    @Test("queues defaults to 8")
    func defaultQueues() async throws {
        let reply = try await Self.harness().send(.post, "/v1/topics", body: #"{"name":"plain","type":"normal"}"#)
        #expect(reply.status == .created)
        #expect(reply.json?["queues"] as? Int == 8)
    }

    @Test("bad requests are 400 INVALID_ARGUMENT with a message naming the field", arguments: [
        (#"{"name":"t","type":"ordered"}"#, "type: expected one of normal|fifo|delay|transaction|priority|lite; got 'ordered'"),
        (#"{"type":"normal"}"#, "name: required"),
        (#"{"name":"t"}"#, "type: required"),
        (#"{"name":"t","type":"normal","queues":"many"}"#, "queues: expected an integer"),
        (#"{"name":"t","type":"normal","queues":0}"#, "1 to 256 queues; got 0"),
        (#"{"name":"bad name","type":"normal"}"#, "' ' is not allowed"),
        (#"{"name":"RMQ_SYS_X","type":"normal"}"#, "reserved"),
        ("not json", "request body: expected JSON"),
    ])
    func badRequest(_ body: String, _ expected: String) async throws {
        let reply = try await Self.harness().send(.post, "/v1/topics", body: body)
        #expect(reply.status == .badRequest, "\(reply.text)")
        #expect(reply.errorCode == "INVALID_ARGUMENT")
        #expect(reply.errorMessage?.contains(expected) == true, "\(reply.text)")
    }

    @Test("a create that conflicts with an existing topic is 409 TOPIC_EXISTS")
    func conflict() async throws {
        let api = Self.harness()
        _ = try await api.send(.post, "/v1/topics", body: #"{"name":"orders","type":"fifo"}"#)
        let reply = try await api.send(.post, "/v1/topics", body: #"{"name":"orders","type":"normal"}"#)
        #expect(reply.status == .conflict)
        #expect(reply.errorCode == "TOPIC_EXISTS")
        #expect(reply.errorMessage?.contains("orders") == true)
    }

    @Test("deleting a missing topic is 404 TOPIC_NOT_FOUND")
    func deleteMissing() async throws {
        let reply = try await Self.harness().send(.delete, "/v1/topics/nope", headers: ["X-Sluice-Actor": "alice"])
        #expect(reply.status == .notFound)
        #expect(reply.errorCode == "TOPIC_NOT_FOUND")
        #expect(reply.errorMessage == "topic 'nope' does not exist")
    }

    @Test("a percent-encoded name in the path is decoded")
    func encodedName() async throws {
        let api = Self.harness()
        _ = try await api.send(.post, "/v1/topics", body: #"{"name":"a%b","type":"normal"}"#)
        #expect(try await api.send(.get, "/v1/topics/a%25b").status == .ok)
    }

    @Test("a storage failure is a 500 with a JSON body")
    func storageFailure() async throws {
        let api = Self.harness(MemoryTopicRegistry(failure: BrokerError(.storageFailure, "disk full")))
        let reply = try await api.send(.get, "/v1/topics")
        #expect(reply.status == .internalServerError)
        #expect(reply.errorCode == "STORAGE_FAILURE")
    }

    @Test("every topic route is 503 NOT_READY while the store is still opening", arguments: [
        (HTTPRequest.Method.get, "/v1/topics", nil as String?),
        (.post, "/v1/topics", #"{"name":"t","type":"normal"}"#),
        (.get, "/v1/topics/t", nil),
        (.delete, "/v1/topics/t", nil),
    ])
    func notReady(_ method: HTTPRequest.Method, _ path: String, _ body: String?) async throws {
        let api = RouterHarness(
            AdminServer.router(readiness: Readiness(), handle: BrokerHandle(), registry: PrometheusCollectorRegistry()))
        let reply = try await api.send(method, path, body: body)
        #expect(reply.status == .serviceUnavailable)
        #expect(reply.errorCode == "NOT_READY")
    }
}
