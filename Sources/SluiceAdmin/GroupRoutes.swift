import Foundation
import Hummingbird
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// `/v1/groups`: consumer groups with their backlog.
///
/// - `GET /v1/groups` → 200 `{"groups": [group, ...]}` ordered by name, each with its totals
/// - `POST /v1/groups` with `{"name": "...", "fifo": false, "maxDeliveryAttempts": 17,
///   "retryDelays": ["1s", "5s", ...], "consumeFrom": "latest"}` (all but `name` optional) → 201
///   when created, 200 when an existing group's settings were changed. `consumeFrom` (`latest`,
///   the default, `earliest` or an RFC 3339 time) says where the group starts in a topic it
///   subscribes to for the first time.
/// - `GET /v1/groups/{name}` → 200 with the group, its totals and `queues` (per topic queue:
///   `waiting`, `inFlight`, `retrying`, `scheduled`, cursor and end offsets), 404 `GROUP_NOT_FOUND`
/// - `DELETE /v1/groups/{name}` with `X-Sluice-Actor` → 204 (its progress is forgotten), audited
///   (`group.delete`); 404 `GROUP_NOT_FOUND`, 400 `ACTOR_REQUIRED`
///
/// - `POST /v1/groups/{name}/dead-letters/redrive` with `X-Sluice-Actor` → 200
///   `{"group", "redriven": N}`: the group's dead letters not re-driven before are delivered to it
///   again (audited as `group.redrive`); 404 `GROUP_NOT_FOUND`
///
/// - `POST /v1/groups/{name}/reset-offset`: see `GroupResetRoute`.
///
/// Dead letters of a group are the topic `%DLQ%<name>`; `deadLettered` counts those not re-driven.
enum GroupRoutes {
    struct GroupBody: Codable {
        var name: String
        var fifo: Bool
        var maxDeliveryAttempts: Int
        var retryDelaysMs: [Int64]
        var createdAtMs: Int64
        var consumeFrom: String
        var deadLetterTopic: String
        var waiting: Int
        var inFlight: Int
        var retrying: Int
        var scheduled: Int
        var deadLettered: Int
        var queues: [QueueBacklog]?

        init(_ backlog: GroupBacklog, withQueues: Bool) {
            name = backlog.group.name
            fifo = backlog.group.fifo
            maxDeliveryAttempts = backlog.group.maxDeliveryAttempts
            retryDelaysMs = backlog.group.retryDelaysMs
            createdAtMs = backlog.group.createdAtMs
            consumeFrom = GroupPosition.text(backlog.group.consumeFrom)
            deadLetterTopic = backlog.group.deadLetterTopic
            waiting = backlog.waiting
            inFlight = backlog.inFlight
            retrying = backlog.retrying
            scheduled = backlog.scheduled
            deadLettered = backlog.deadLettered
            queues = withQueues ? backlog.queues : nil
        }
    }

    struct RedriveResult: Encodable {
        var group: String
        var redriven: Int
    }

    struct GroupList: Encodable {
        var groups: [GroupBody]
    }

    struct SaveRequest: Decodable {
        var name: String?
        var fifo: Bool?
        var maxDeliveryAttempts: Int?
        var retryDelays: [String]?
        var consumeFrom: String?
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/groups") { _, _ in
            let engine = try engine(readiness, handle)
            var groups: [GroupBody] = []
            for group in engine.groups() {
                if let backlog = await engine.backlog(group: group.name) { groups.append(GroupBody(backlog, withQueues: false)) }
            }
            return JSONResponse.make(status: .ok, GroupList(groups: groups))
        }
        router.post("v1/groups") { request, _ in
            let engine = try engine(readiness, handle)
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            let (group, created) = try await save(engine, body: Data(body.readableBytesView))
            return JSONResponse.make(status: created ? .created : .ok, group)
        }
        router.get("v1/groups/:name") { _, context in
            let engine = try engine(readiness, handle)
            let name = try pathName(context)
            guard let backlog = await engine.backlog(group: name) else { throw notFound(name) }
            return JSONResponse.make(status: .ok, GroupBody(backlog, withQueues: true))
        }
        router.post("v1/groups/:name/dead-letters/redrive") { request, context in
            let engine = try engine(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let name = try pathName(context)
            let count: Int
            do throws(BrokerError) {
                count = try await engine.redriveDeadLetters(group: name)
            } catch where error.code == .groupNotFound {
                throw notFound(name)
            } catch {
                throw TopicRoutes.apiError(error)
            }
            try await audit(
                handle, actor: actor, action: "group.redrive", detail: "consumer group \(name): \(count) dead letters re-driven",
                done: "\(count) dead letters of \(name) were re-driven")
            return JSONResponse.make(status: .ok, RedriveResult(group: name, redriven: count))
        }
        router.delete("v1/groups/:name") { request, context in
            let engine = try engine(readiness, handle)
            let actor = try AdminActor.required(request.headers)
            let name = try pathName(context)
            let deleted: Bool
            do throws(BrokerError) {
                deleted = try await engine.deleteGroup(named: name)
            } catch {
                throw TopicRoutes.apiError(error)
            }
            if !deleted { throw notFound(name) }
            try await audit(
                handle, actor: actor, action: "group.delete", detail: "consumer group \(name)",
                done: "group \(name) was deleted")
            return Response(status: .noContent)
        }
    }

    static func save(_ engine: ConsumptionEngine, body: Data) async throws(AdminAPIError) -> (GroupBody, Bool) {
        let request: SaveRequest
        do {
            request = try JSONDecoder().decode(SaveRequest.self, from: body)
        } catch {
            throw invalid(
                "request body: expected JSON {\"name\": \"...\", \"fifo\": false, \"maxDeliveryAttempts\": 17, "
                    + "\"retryDelays\": [\"1s\", \"5s\"], \"consumeFrom\": \"latest\"}")
        }
        guard let name = request.name else { throw invalid("name: required") }
        let existing = engine.group(named: name)
        var group = existing ?? ConsumerGroup(name: name, createdAtMs: WallClock.nowMs())
        if let fifo = request.fifo { group.fifo = fifo }
        if let attempts = request.maxDeliveryAttempts { group.maxDeliveryAttempts = attempts }
        if let text = request.consumeFrom {
            guard let consumeFrom = GroupPosition.consumeFrom(text) else {
                throw invalid("consumeFrom: expected \(GroupPosition.choices); got '\(text)'")
            }
            group.consumeFrom = consumeFrom
        }
        if let delays = request.retryDelays {
            guard !delays.isEmpty else { throw invalid("retryDelays: give at least one duration, e.g. [\"1s\"]") }
            var parsed: [Int64] = []
            for text in delays {
                guard case .success(let duration) = DurationParser.parse(text) else {
                    throw invalid("retryDelays: '\(text)' is not a duration like 500ms, 10s, 2m or 1h")
                }
                parsed.append(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
            }
            group.retryDelaysMs = parsed
        }
        let saved: ConsumerGroup
        do throws(BrokerError) {
            saved = try await engine.saveGroup(group)
        } catch {
            throw TopicRoutes.apiError(error)
        }
        guard let backlog = await engine.backlog(group: saved.name) else { throw notFound(name) }
        return (GroupBody(backlog, withQueues: false), existing == nil)
    }

    /// Writes an audit row for an action already done; when that fails, says the action happened
    /// but its trail is missing rather than pretend.
    static func audit(
        _ handle: BrokerHandle, actor: String, action: String, detail: String, reason: String? = nil, done: String
    ) async throws(AdminAPIError) {
        do throws(TransactionStoreError) {
            try await handle.coordinator?.store.recordAudit(
                actor: actor, action: action, detail: detail, reason: reason, at: WallClock.nowMs())
        } catch {
            throw AdminAPIError(
                .internalServerError, code: "STORAGE_FAILURE",
                message: "\(done), but the audit log could not be written: \(error.message)")
        }
    }

    static func engine(_ readiness: Readiness, _ handle: BrokerHandle) throws(AdminAPIError) -> ConsumptionEngine {
        _ = try TopicRoutes.registry(readiness, handle)
        guard let engine = handle.consumption else {
            throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "consumer groups are not open")
        }
        return engine
    }

    private static func pathName(_ context: some RequestContext) throws(AdminAPIError) -> String {
        guard let raw = context.parameters.get("name") else { throw invalid("group name: missing from the path") }
        return raw.removingPercentEncoding ?? raw
    }

    private static func notFound(_ name: String) -> AdminAPIError {
        AdminAPIError(.notFound, code: "GROUP_NOT_FOUND", message: "consumer group '\(name)' does not exist")
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }
}
