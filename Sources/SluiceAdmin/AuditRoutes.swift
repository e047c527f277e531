import Hummingbird
import SluiceBroker
import SluiceTransactions

/// `GET /v1/audit?limit=N` → 200 `{"audit": [{"at", "actor", "action", "transactionId", "detail",
/// "reason"}]}`, newest first (default 50, at most 1000): every operator and policy action,
/// transaction resolutions and topic deletions alike. 400 `INVALID_ARGUMENT` for a bad limit.
enum AuditRoutes {
    static let defaultLimit = 50

    struct Entry: Encodable {
        var at: String
        var actor: String
        var action: String
        var transactionId: String?
        var detail: String?
        var reason: String?

        init(_ entry: AuditEntry) {
            at = TransactionBodies.timestamp(entry.atMs)
            actor = entry.actor
            action = entry.action
            transactionId = entry.transactionId
            detail = entry.detail
            reason = entry.reason
        }

        enum CodingKeys: String, CodingKey { case at, actor, action, transactionId, detail, reason }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(at, forKey: .at)
            try container.encode(actor, forKey: .actor)
            try container.encode(action, forKey: .action)
            try container.encode(transactionId, forKey: .transactionId)
            try container.encode(detail, forKey: .detail)
            try container.encode(reason, forKey: .reason)
        }
    }

    struct Page: Encodable {
        var audit: [Entry]
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/audit") { request, _ in
            let coordinator = try TransactionRoutes.coordinator(readiness, handle)
            var limit = defaultLimit
            if let text = request.uri.queryParameters.get("limit"), !text.isEmpty {
                guard let value = Int(text), (1...TransactionStateStore.maximumAuditPage).contains(value) else {
                    throw AdminAPIError(
                        .badRequest, code: "INVALID_ARGUMENT",
                        message: "limit: expected an integer from 1 to \(TransactionStateStore.maximumAuditPage); got '\(text)'")
                }
                limit = value
            }
            let entries: [AuditEntry]
            do throws(TransactionStoreError) {
                entries = try await coordinator.store.recentAudit(limit: limit)
            } catch {
                throw TransactionRoutes.storeError(error)
            }
            return JSONResponse.make(status: .ok, Page(audit: entries.map(Entry.init)))
        }
    }
}
