import Foundation
import Hummingbird
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// `/v1/messages`: stored messages by id or key, and a message's trace.
///
/// - `GET /v1/messages/{messageId}` → 200 `{"messageId", "messages": [message, ...]}`, every record
///   stored under that id, oldest first (a transactional message has its half, then its commit or
///   rollback record); 404 `MESSAGE_NOT_FOUND`
/// - `GET /v1/messages?key=K&limit=N` → 200 `{"key", "messages": [...]}` (the records carrying
///   key K, oldest first, at most `limit`, 1...1000, default 64); 404 `MESSAGE_NOT_FOUND`; 400
///   `INVALID_ARGUMENT` without `key`
/// - `GET /v1/messages/{messageId}/trace` → 200 `{"messageId", "tracing", "events": [{"event",
///   "at", "details"}]}`, oldest first; 404 `MESSAGE_NOT_FOUND` when there is neither a record
///   nor an event for the id
///
/// Lookups go through the commit log's key index: no scan. Trace records (in
/// `RMQ_SYS_TRACE_TOPIC`) are never listed as messages. 503 as the other routes while the store
/// is not open.
enum MessageRoutes {
    static let defaultKeyLimit = 64
    static let maximumKeyLimit = 1000
    /// Records read for one message id: a message has a handful (half, commit, retried sends).
    static let maximumRecordsPerId = 64

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/messages") { request, _ in
            let coordinator = try TransactionRoutes.coordinator(readiness, handle)
            let query = Dictionary(
                request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { a, _ in a })
            return JSONResponse.make(status: .ok, try await byKey(coordinator, query: query))
        }
        router.get("v1/messages/:id") { _, context in
            let coordinator = try TransactionRoutes.coordinator(readiness, handle)
            return JSONResponse.make(status: .ok, try await byID(coordinator, id: try pathID(context)))
        }
        router.get("v1/messages/:id/trace") { _, context in
            let coordinator = try TransactionRoutes.coordinator(readiness, handle)
            let trace = try trace(coordinator, id: try pathID(context), tracing: handle.trace != nil)
            return JSONResponse.make(status: .ok, trace)
        }
    }

    static func byID(_ coordinator: TransactionCoordinator, id: String) async throws(AdminAPIError)
        -> MessageBodies.ByID
    {
        let records = messageRecords(coordinator.log.lookup(messageId: id, limit: maximumRecordsPerId))
        guard !records.isEmpty else {
            throw notFound("no message with id \(id) in the log (never stored here, or deleted by retention)")
        }
        return MessageBodies.ByID(messageId: id, messages: try await bodies(records, coordinator))
    }

    static func byKey(_ coordinator: TransactionCoordinator, query: [String: String]) async throws(AdminAPIError)
        -> MessageBodies.ByKey
    {
        guard let key = query["key"], !key.isEmpty else {
            throw invalid("key: required; GET /v1/messages?key=K finds the messages carrying key K")
        }
        var limit = defaultKeyLimit
        if let text = query["limit"], !text.isEmpty {
            guard let value = Int(text), (1...maximumKeyLimit).contains(value) else {
                throw invalid("limit: expected an integer from 1 to \(maximumKeyLimit); got '\(text)'")
            }
            limit = value
        }
        let records = messageRecords(coordinator.log.lookup(key: key, limit: limit))
        guard !records.isEmpty else {
            throw notFound("no message with key \(key) in the log (never stored here, or deleted by retention)")
        }
        return MessageBodies.ByKey(key: key, messages: try await bodies(records, coordinator))
    }

    static func trace(_ coordinator: TransactionCoordinator, id: String, tracing: Bool) throws(AdminAPIError)
        -> MessageBodies.Trace
    {
        let events = MessageTraceReader(log: coordinator.log).events(messageId: id)
        if events.isEmpty, messageRecords(coordinator.log.lookup(messageId: id, limit: 1)).isEmpty {
            throw notFound(
                "no message with id \(id) and no trace events for it"
                    + (tracing ? "" : " (tracing is off: --trace on records them)"))
        }
        return MessageBodies.Trace(messageId: id, tracing: tracing, events: events.map(MessageBodies.Event.init))
    }

    /// The records that are messages (not trace events), oldest first.
    static func messageRecords(_ records: [StoredRecord]) -> [StoredRecord] {
        records.filter { $0.topic != MessageTraceRecord.queue.topic }.sorted { $0.physicalOffset < $1.physicalOffset }
    }

    /// Bodies for `records`, each with its transaction from the table when it has one.
    static func bodies(_ records: [StoredRecord], _ coordinator: TransactionCoordinator) async throws(AdminAPIError)
        -> [MessageBodies.Message]
    {
        var transactions: [String: TransactionBodies.Transaction?] = [:]
        var result: [MessageBodies.Message] = []
        let nowMs = WallClock.nowMs()
        for record in records {
            var transaction: TransactionBodies.Transaction?
            if let id = record.property(TransactionEvent.Property.transactionId) {
                if let known = transactions[id] {
                    transaction = known
                } else {
                    do throws(TransactionStoreError) {
                        transaction = try await coordinator.transaction(id: id).map {
                            TransactionBodies.Transaction($0, nowMs: nowMs)
                        }
                    } catch {
                        throw TransactionRoutes.storeError(error)
                    }
                    transactions[id] = transaction
                }
            }
            result.append(MessageBodies.Message(record, transaction: transaction))
        }
        return result
    }

    private static func pathID(_ context: some RequestContext) throws(AdminAPIError) -> String {
        guard let raw = context.parameters.get("id") else { throw invalid("message id: missing from the path") }
        return raw.removingPercentEncoding ?? raw
    }

    private static func notFound(_ message: String) -> AdminAPIError {
        AdminAPIError(.notFound, code: "MESSAGE_NOT_FOUND", message: message)
    }

    private static func invalid(_ message: String) -> AdminAPIError {
        AdminAPIError(.badRequest, code: "INVALID_ARGUMENT", message: message)
    }
}
