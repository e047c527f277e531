import Foundation
import Hummingbird
import SluiceBroker

/// `POST /v1/groups/{name}/reset-offset` with `X-Sluice-Actor` and `{"topic": "...", "to":
/// "earliest" | "latest" | "<RFC 3339 time>", "reason": "..."}` → 200 `{"group", "topic", "to",
/// "queues": [{"queueId", "from", "to"}]}`: the group's position in every queue of the topic moves
/// to the oldest message kept, the end, or the first message stored at or after the time (found
/// by binary search over the queue index's store times). Audited as `group.reset-offset` with
/// every queue's old and new offset. Messages in flight stay ackable.
///
/// Errors: 400 `INVALID_ARGUMENT` (bad body, topic or time), 400 `ACTOR_REQUIRED`, 404
/// `GROUP_NOT_FOUND`, 404 `TOPIC_NOT_FOUND`.
enum GroupResetRoute {
    struct ResetRequest: Decodable {
        var topic: String?
        var to: String?
        var reason: String?
    }

    struct ResetResult: Encodable {
        var group: String
        var topic: String
        var to: String
        var queues: [QueueOffsetChange]
    }

    static let bodyShape = "expected JSON {\"topic\": \"...\", \"to\": \"earliest\" | \"latest\" | \"2026-12-05T07:00:00Z\", \"reason\": \"...\"}"

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.post("v1/groups/:name/reset-offset") { request, context in
            let engine = try GroupRoutes.engine(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            guard let raw = context.parameters.get("name") else { throw invalid("group name: missing from the path") }
            let name = raw.removingPercentEncoding ?? raw
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            let ask: ResetRequest
            do {
                ask = try JSONDecoder().decode(ResetRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw invalid("request body: \(bodyShape)")
            }
            guard engine.group(named: name) != nil else {
                throw AdminAPIError(.notFound, code: "GROUP_NOT_FOUND", message: "consumer group '\(name)' does not exist")
            }
            guard let topicName = ask.topic, !topicName.isEmpty else { throw invalid("topic: required; \(bodyShape)") }
            guard let targetText = ask.to, let target = GroupPosition.target(targetText) else {
                throw invalid("to: expected \(GroupPosition.choices); got \(ask.to.map { "'\($0)'" } ?? "nothing")")
            }
            if let reason = ask.reason, reason.utf8.count > 1024 { throw invalid("reason: at most 1024 bytes") }
            let topic = try await topic(named: topicName, engine: engine, handle: handle, readiness: readiness)
            let changes: [QueueOffsetChange]
            do throws(BrokerError) {
                changes = try await engine.resetOffsets(group: name, topic: topic, to: target)
            } catch where error.code == .groupNotFound {
                throw AdminAPIError(.notFound, code: "GROUP_NOT_FOUND", message: error.message)
            } catch {
                throw TopicRoutes.apiError(error)
            }
            let moves = changes.map { "queue \($0.queueId) \($0.from)->\($0.to)" }.joined(separator: ", ")
            try await GroupRoutes.audit(
                handle, actor: actor, action: "group.reset-offset",
                detail: "consumer group \(name) topic \(topic.name) to \(GroupPosition.text(target)): \(moves)",
                reason: ask.reason, done: "the offsets of \(name) in \(topic.name) were reset")
            return JSONResponse.make(
                status: .ok, ResetResult(group: name, topic: topic.name, to: GroupPosition.text(target), queues: changes))
        }
    }

    /// The topic to reset: a registered topic or one of a group's dead-letter topics.
    private static func topic(
        named name: String, engine: ConsumptionEngine, handle: BrokerHandle, readiness: Readiness
    ) async throws(AdminAPIError) -> TopicDefinition {
        if let deadLetters = engine.deadLetterTopic(named: name) { return deadLetters }
        let registry = try TopicRoutes.registry(readiness, handle)
        let found: TopicDefinition?
        do throws(BrokerError) {
            found = try await registry.topic(named: name)
        } catch {
            throw TopicRoutes.apiError(error)
        }
        guard let found else {
            throw AdminAPIError(.notFound, code: "TOPIC_NOT_FOUND", message: "topic '\(name)' does not exist")
        }
        return found
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }
}
