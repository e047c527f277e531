import Foundation
import Hummingbird
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// `/v1/topics`: list, create, show and delete topics.
///
/// - `GET /v1/topics` → 200 `{"topics": [topic, ...]}` ordered by name
/// - `POST /v1/topics` with `{"name": "...", "type": "normal|fifo|delay|transaction|priority|lite", "queues": 8}`
///   (`queues` optional, default 8) → 201 with the topic, or 200 when it already existed identically
/// - `GET /v1/topics/{name}` → 200 with the topic, 404 `TOPIC_NOT_FOUND`
/// - `DELETE /v1/topics/{name}` with `X-Sluice-Actor` → 204, audited (`topic.delete`); 409
///   `TOPIC_IN_USE` while it has prepared or parked transactions;
///   404 `TOPIC_NOT_FOUND`, 400 `ACTOR_REQUIRED`
///
/// A topic is `{"name", "type", "queues", "createdAtMs"}`. Errors: 400 `INVALID_ARGUMENT`,
/// 409 `TOPIC_EXISTS` (same name, other type or queue count), 421 `NOT_LEADER` for a create or
/// delete sent to a follower of a replicated group (the message names the leader), 503
/// `CLUSTER_UNAVAILABLE` when a cluster broker cannot store the topic's route in etcd, 503
/// `NOT_READY` while the store is still opening (and the other `/readyz` codes while it fails or stops).
enum TopicRoutes {
    /// A topic as the API shows it.
    struct TopicBody: Codable, Equatable {
        var name: String
        var type: TopicMessageType
        var queues: Int
        var createdAtMs: Int64

        init(_ topic: TopicDefinition) {
            name = topic.name
            type = topic.messageType
            queues = topic.queueCount
            createdAtMs = topic.createdAtMs
        }
    }

    struct TopicList: Encodable {
        var topics: [TopicBody]
    }

    /// The POST body; every field optional so that a missing one gets a message naming it.
    struct CreateRequest: Decodable {
        var name: String?
        var type: String?
        var queues: Int?
    }

    /// The largest POST body read; a topic request is a few dozen bytes.
    static let maximumBodyBytes = 64 * 1024

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/topics") { _, _ in
            let registry = try registry(readiness, handle)
            return JSONResponse.make(status: .ok, TopicList(topics: try await list(registry)))
        }
        router.post("v1/topics") { request, _ in
            let registry = try registry(readiness, handle)
            var request = request
            let body = try await request.collectBody(upTo: maximumBodyBytes)
            let (topic, created) = try await create(registry, body: Data(body.readableBytesView))
            return JSONResponse.make(status: created ? .created : .ok, topic)
        }
        router.get("v1/topics/:name") { _, context in
            let registry = try registry(readiness, handle)
            let name = try pathName(context)
            return JSONResponse.make(status: .ok, try await show(registry, name: name))
        }
        router.delete("v1/topics/:name") { request, context in
            let registry = try registry(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            try await delete(registry, name: try pathName(context), actor: actor, audit: handle.coordinator?.store)
            return Response(status: .noContent)
        }
    }

    /// The registry when the store is open, else the `/readyz` error for the current state.
    static func registry(_ readiness: Readiness, _ handle: BrokerHandle) throws(AdminAPIError) -> any TopicRegistry {
        let state = readiness.state
        if case .ready = state, let topics = handle.topics { return topics }
        if case .ready = state {
            // A store without a published registry (a test composing parts by hand).
            throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "the topic registry is not open")
        }
        // Recovering, failed or stopping: the same code and message as /readyz.
        _ = try HealthRoutes.readyResponse(state)
        throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "the topic registry is not open")
    }

    static func list(_ registry: any TopicRegistry) async throws(AdminAPIError) -> [TopicBody] {
        do throws(BrokerError) {
            return try await registry.list().map(TopicBody.init)
        } catch {
            throw apiError(error)
        }
    }

    /// Decodes and applies a POST body; `created` is false when an identical topic existed.
    static func create(_ registry: any TopicRegistry, body: Data) async throws(AdminAPIError)
        -> (topic: TopicBody, created: Bool)
    {
        let request: CreateRequest
        do {
            request = try JSONDecoder().decode(CreateRequest.self, from: body)
        } catch {
            throw invalid(
                "request body: expected JSON {\"name\": \"...\", \"type\": \"\(TopicMessageType.choices)\", "
                    + "\"queues\": N}; \(describe(error))")
        }
        guard let name = request.name else { throw invalid("name: required") }
        guard let typeText = request.type else { throw invalid("type: required; one of \(TopicMessageType.choices)") }
        do throws(BrokerError) {
            let type = try TopicMessageType.parse(typeText)
            let existed = try await registry.topic(named: name)
            let topic = try await registry.create(
                name: name, type: type, queueCount: request.queues ?? TopicDefinition.defaultQueueCount)
            return (TopicBody(topic), existed != topic)
        } catch {
            throw apiError(error)
        }
    }

    static func show(_ registry: any TopicRegistry, name: String) async throws(AdminAPIError) -> TopicBody {
        let topic: TopicDefinition?
        do throws(BrokerError) {
            topic = try await registry.topic(named: name)
        } catch {
            throw apiError(error)
        }
        guard let topic else { throw notFound(name) }
        return TopicBody(topic)
    }

    /// Deletes the topic and writes an audit row naming `actor` (when the audit log is open).
    static func delete(
        _ registry: any TopicRegistry, name: String, actor: String, audit: TransactionStateStore?,
        nowMs: Int64 = WallClock.nowMs()
    ) async throws(AdminAPIError) {
        try await refuseWhileUndecided(topic: name, audit: audit)
        let existing: TopicDefinition?
        let removed: Bool
        do throws(BrokerError) {
            existing = try await registry.topic(named: name)
            removed = existing == nil ? false : try await registry.delete(named: name)
        } catch {
            throw apiError(error)
        }
        guard removed, let deleted = existing else { throw notFound(name) }
        do throws(TransactionStoreError) {
            try await audit?.recordAudit(
                actor: actor, action: "topic.delete",
                detail: "topic \(deleted.name) (\(deleted.messageType), \(deleted.queueCount) queues)", reason: nil,
                at: nowMs)
        } catch {
            // The topic is gone either way; say that the trail is missing rather than pretend.
            throw AdminAPIError(
                .internalServerError, code: "STORAGE_FAILURE",
                message: "topic \(name) was deleted, but the audit log could not be written: \(error.message)")
        }
    }

    /// A topic with prepared or parked transactions keeps them: deleting it would leave half
    /// messages whose commit has nowhere to go. 409 `TOPIC_IN_USE` naming how to find them.
    static func refuseWhileUndecided(topic: String, audit: TransactionStateStore?) async throws(AdminAPIError) {
        guard let audit else { return }
        for state in [TransactionState.prepared, .parked] {
            let page: TransactionPage
            do throws(TransactionStoreError) {
                page = try await audit.list(filter: TransactionFilter(state: state, topic: topic), limit: 1)
            } catch {
                throw AdminAPIError(.internalServerError, code: "STORAGE_FAILURE", message: error.message)
            }
            if !page.records.isEmpty {
                throw AdminAPIError(
                    .conflict, code: "TOPIC_IN_USE",
                    message: "topic \(topic) has \(state.rawValue) transactions; resolve them first "
                        + "(sluice txn list --topic \(topic) --state \(state.rawValue))")
            }
        }
    }

    /// Maps a broker error code to an HTTP status and a stable API code.
    static func apiError(_ error: BrokerError) -> AdminAPIError {
        switch error.code {
        case .invalidArgument, .invalidMessage:
            return AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: error.message)
        case .topicNotFound:
            return AdminAPIError(.notFound, code: "TOPIC_NOT_FOUND", message: error.message)
        case .topicExists:
            return AdminAPIError(.conflict, code: "TOPIC_EXISTS", message: error.message)
        case .storageFailure, .storageUnavailable:
            return AdminAPIError(.internalServerError, code: "STORAGE_FAILURE", message: error.message)
        case .clusterUnavailable:
            return AdminAPIError(.serviceUnavailable, code: "CLUSTER_UNAVAILABLE", message: error.message)
        case .notLeader:
            // 421: the request went to the wrong broker of the group; the message names the right one.
            return AdminAPIError(.misdirectedRequest, code: "NOT_LEADER", message: error.message)
        default:
            return AdminAPIError(.internalServerError, code: "INTERNAL", message: error.message)
        }
    }

    private static func pathName(_ context: some RequestContext) throws(AdminAPIError) -> String {
        guard let raw = context.parameters.get("name") else { throw invalid("topic name: missing from the path") }
        // Hummingbird leaves path parameters percent-encoded ('%' in a topic name arrives as %25).
        return raw.removingPercentEncoding ?? raw
    }

    private static func notFound(_ name: String) -> AdminAPIError {
        AdminAPIError(.notFound, code: "TOPIC_NOT_FOUND", message: "topic '\(name)' does not exist")
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }

    /// A short reason for a JSON decoding failure, naming the field when there is one.
    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(let type, let context):
            return "\(fieldPath(context)): expected \(type == Int.self ? "an integer" : "\(type)")"
        case .valueNotFound(_, let context):
            return "\(fieldPath(context)): must not be null"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "\(fieldPath(context)): \(context.debugDescription)"
        default:
            return "the body is not a JSON object"
        }
    }

    private static func fieldPath(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}
