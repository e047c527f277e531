import Foundation
import HTTPTypes
import Hummingbird
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// `/v1/transactions`: the stuck-transaction query, one transaction's history, and operator
/// resolution.
///
/// - `GET /v1/transactions?state=&olderThan=&group=&topic=&client=&limit=&cursor=` → 200
///   `{"transactions": [transaction, ...], "nextCursor": "..." | null}`, oldest first. `state` is
///   `prepared|parked|committed|rolled-back` (`rolled_back` too); `olderThan` a duration such as
///   `500ms`, `60s`, `5m`, `1h` (created strictly before now minus it); `group` the producer group;
///   `limit` 1...1000, default 50; `cursor` the previous page's `nextCursor`, opaque.
/// - `GET /v1/transactions/{id}` → 200 with the transaction plus `checks` (every check-back sent)
///   and `audit` (operator and policy actions), 404 `TRANSACTION_NOT_FOUND`
/// - `POST /v1/transactions/{id}/resolve` with `{"resolution": "commit"|"rollback", "reason": "..."}`
///   → 200 `{"transaction": ..., "outcome": "applied"|"alreadyResolved"}`. The operator is the
///   `X-Sluice-Actor` header (required: 400 `ACTOR_REQUIRED` without it); the coordinator appends
///   the resolution to the log (a commit makes the message visible) and audits it with the actor
///   and reason. 400 `INVALID_ARGUMENT` (bad resolution, missing or blank reason), 404 `TRANSACTION_NOT_FOUND`,
///   409 `TRANSACTION_CONFLICT` (the opposite resolution stands).
///
/// A transaction is `{"id", "messageId", "topic", "producerGroup", "clientId", "keys", "tags",
/// "state", "ageSeconds", "createdAt", "checkCount", "checkOutstanding", "lastCheckAt",
/// "nextCheckAt", "resolvedAt", "resolutionSource", "resolvedBy", "reason"}`; times are ISO 8601.
/// Every route is 503 `NOT_READY` while the store is still opening.
enum TransactionRoutes {
    static let defaultPageSize = 50
    /// The longest reason kept; it goes into the log record and the audit table.
    static let maximumReasonBytes = 1024
    /// The largest POST body read; a resolve request is a few hundred bytes.
    static let maximumBodyBytes = 16 * 1024

    /// - Parameter nowMs: wall-clock milliseconds, for ages and `olderThan`.
    static func add(
        to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle,
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }
    ) {
        router.get("v1/transactions") { request, _ in
            let coordinator = try coordinator(readiness, handle)
            // The first value of each parameter, percent-decoded.
            let query = Dictionary(
                request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { first, _ in first })
            let page = try await list(coordinator, query: query, nowMs: nowMs())
            return JSONResponse.make(status: .ok, page)
        }
        router.get("v1/transactions/:id") { _, context in
            let coordinator = try coordinator(readiness, handle)
            let detail = try await show(coordinator, id: try pathID(context), nowMs: nowMs())
            return JSONResponse.make(status: .ok, detail)
        }
        router.post("v1/transactions/:id/resolve") { request, context in
            let coordinator = try coordinator(readiness, handle)
            let id = try pathID(context)
            let actor = try AdminActor.required(request.headers)
            var request = request
            let body = try await request.collectBody(upTo: maximumBodyBytes)
            let resolved = try await resolve(
                coordinator, id: id, body: Data(body.readableBytesView), actor: actor, nowMs: nowMs)
            return JSONResponse.make(status: .ok, resolved)
        }
    }

    /// The coordinator when the store is open, else the `/readyz` error for the current state.
    static func coordinator(_ readiness: Readiness, _ handle: BrokerHandle) throws(AdminAPIError)
        -> TransactionCoordinator
    {
        let state = readiness.state
        if case .ready = state, let coordinator = handle.coordinator { return coordinator }
        if case .ready = state {
            throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "the transaction store is not open")
        }
        _ = try HealthRoutes.readyResponse(state)
        throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "the transaction store is not open")
    }

    // MARK: list

    /// Reads the query parameters into a filter, a page size and a cursor.
    static func listRequest(
        _ query: [String: String], nowMs: Int64
    ) throws(AdminAPIError) -> (filter: TransactionFilter, limit: Int, cursor: TransactionCursor?) {
        var filter = TransactionFilter()
        if let text = nonEmpty(query["state"]) {
            guard let state = TransactionBodies.parseState(text) else {
                throw invalid("state: expected one of \(TransactionBodies.stateChoices); got '\(text)'")
            }
            filter.state = state
        }
        if let text = nonEmpty(query["olderThan"]) {
            switch DurationParser.parse(text) {
            case .success(let duration):
                let milliseconds = duration.components.seconds * 1000
                    + duration.components.attoseconds / 1_000_000_000_000_000
                filter.createdBeforeMs = nowMs - milliseconds
            case .failure(let failure):
                throw invalid("olderThan: \(failure.reason)")
            }
        }
        filter.producerGroup = nonEmpty(query["group"])
        filter.topic = nonEmpty(query["topic"])
        filter.clientId = nonEmpty(query["client"])
        var limit = defaultPageSize
        if let text = nonEmpty(query["limit"]) {
            guard let value = Int(text), (1...TransactionStateStore.maximumPageSize).contains(value) else {
                throw invalid("limit: expected an integer from 1 to \(TransactionStateStore.maximumPageSize); got '\(text)'")
            }
            limit = value
        }
        var cursor: TransactionCursor?
        if let text = nonEmpty(query["cursor"]) {
            guard let parsed = TransactionCursor(token: text) else {
                throw invalid("cursor: '\(text)' is not a nextCursor returned by this API")
            }
            cursor = parsed
        }
        return (filter, limit, cursor)
    }

    static func list(
        _ coordinator: TransactionCoordinator, query: [String: String], nowMs: Int64
    ) async throws(AdminAPIError) -> TransactionBodies.Page {
        let (filter, limit, cursor) = try listRequest(query, nowMs: nowMs)
        do throws(TransactionStoreError) {
            // Halves held in memory for their EndTransaction are written first, so an operator's
            // listing shows every transaction sent so far.
            await coordinator.flushDeferredHalves(all: true)
            let page = try await coordinator.store.list(filter: filter, limit: limit, after: cursor)
            return TransactionBodies.Page(
                transactions: page.records.map { TransactionBodies.Transaction($0, nowMs: nowMs) },
                nextCursor: page.nextCursor?.token)
        } catch {
            throw storeError(error)
        }
    }

    // MARK: show

    static func show(
        _ coordinator: TransactionCoordinator, id: String, nowMs: Int64
    ) async throws(AdminAPIError) -> TransactionBodies.Detail {
        let found: (TransactionRecord, [CheckAttempt], [AuditEntry])?
        do throws(TransactionStoreError) {
            if let record = try await coordinator.transaction(id: id) {
                found = (
                    record, try await coordinator.store.checkHistory(transactionId: id),
                    try await coordinator.store.auditLog(transactionId: id)
                )
            } else {
                found = nil
            }
        } catch {
            throw storeError(error)
        }
        guard let found else { throw notFound(id) }
        return TransactionBodies.Detail(
            transaction: TransactionBodies.Transaction(found.0, nowMs: nowMs),
            checks: found.1.map(TransactionBodies.Check.init),
            audit: found.2.map(TransactionBodies.Audit.init))
    }

    // MARK: resolve

    /// Decodes a resolve body and ends the transaction through the coordinator as `actor`.
    static func resolve(
        _ coordinator: TransactionCoordinator, id: String, body: Data, actor: String,
        nowMs: @Sendable () -> Int64
    ) async throws(AdminAPIError) -> TransactionBodies.Resolved {
        let request: TransactionBodies.ResolveRequest
        do {
            request = try JSONDecoder().decode(TransactionBodies.ResolveRequest.self, from: body)
        } catch {
            throw invalid(
                "request body: expected JSON {\"resolution\": \"commit\"|\"rollback\", \"reason\": \"...\"}")
        }
        guard let resolutionText = request.resolution else { throw invalid("resolution: required; commit or rollback") }
        guard let resolution = TransactionResolution(rawValue: resolutionText.lowercased()) else {
            throw invalid("resolution: expected commit or rollback; got '\(resolutionText)'")
        }
        let reason = (request.reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else {
            throw invalid("reason: required; say why the transaction is resolved by hand (it is audited)")
        }
        guard reason.utf8.count <= maximumReasonBytes else {
            throw invalid("reason: \(reason.utf8.count) bytes; limit \(maximumReasonBytes)")
        }
        let outcome: EndOutcome
        do throws(BrokerError) {
            outcome = try await coordinator.end(
                transactionId: id, resolution: resolution, source: .operator, actor: actor, reason: reason)
        } catch {
            throw apiError(error)
        }
        let record: TransactionRecord?
        do throws(TransactionStoreError) {
            record = try await coordinator.transaction(id: id)
        } catch {
            throw storeError(error)
        }
        guard let record else { throw notFound(id) }
        return TransactionBodies.Resolved(
            transaction: TransactionBodies.Transaction(record, nowMs: nowMs()),
            outcome: outcome == .applied ? "applied" : "alreadyResolved")
    }

    // MARK: errors

    static func apiError(_ error: BrokerError) -> AdminAPIError {
        switch error.code {
        case .transactionNotFound:
            return AdminAPIError(.notFound, code: "TRANSACTION_NOT_FOUND", message: error.message)
        case .transactionConflict:
            return AdminAPIError(.conflict, code: "TRANSACTION_CONFLICT", message: error.message)
        default:
            return TopicRoutes.apiError(error)
        }
    }

    static func storeError(_ error: TransactionStoreError) -> AdminAPIError {
        switch error.code {
        case .invalidArgument:
            return invalid(error.message)
        case .unknownTransaction:
            return AdminAPIError(.notFound, code: "TRANSACTION_NOT_FOUND", message: error.message)
        default:
            return AdminAPIError(.internalServerError, code: "STORAGE_FAILURE", message: error.message)
        }
    }

    private static func pathID(_ context: some RequestContext) throws(AdminAPIError) -> String {
        guard let raw = context.parameters.get("id") else { throw invalid("transaction id: missing from the path") }
        return raw.removingPercentEncoding ?? raw
    }

    private static func notFound(_ id: String) -> AdminAPIError {
        AdminAPIError(.notFound, code: "TRANSACTION_NOT_FOUND", message: "no transaction with id \(id)")
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
