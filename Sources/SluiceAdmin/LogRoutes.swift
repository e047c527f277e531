import Hummingbird
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// `/v1/log`: the commit log's extent, and retention on demand.
///
/// - `GET /v1/log` → 200 `{"startOffset", "endOffset"}`: the first byte the log still holds and
///   its end (physical offsets).
/// - `POST /v1/log/retention` with `X-Sluice-Actor` → 200 `{"deletedSegments": [path, ...],
///   "blockedByPin", "startOffset", "endOffset"}`: runs a retention pass now instead of at the
///   next check (every 60 s) — sealed segments past `--retention-hours`, or while the disk is
///   fuller than 90 %, never one holding a pending half message (`blockedByPin`). Audited
///   (`log.retention`). RocketMQ's `mqadmin deleteExpiredCommitLog`.
///
/// 503 as the other routes while the store is not open.
enum LogRoutes {
    struct Extent: Codable, Sendable {
        var startOffset: UInt64
        var endOffset: UInt64
    }

    struct RetentionPass: Codable, Sendable {
        var deletedSegments: [String]
        var blockedByPin: Bool
        var startOffset: UInt64
        var endOffset: UInt64
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/log") { _, _ in
            let log = try TransactionRoutes.coordinator(readiness, handle).log
            return JSONResponse.make(status: .ok, Extent(startOffset: log.minOffset, endOffset: log.endOffset))
        }
        router.post("v1/log/retention") { request, _ in
            let actor = try AdminActor.required(request.headers)
            let coordinator = try TransactionRoutes.coordinator(readiness, handle)
            let log = coordinator.log
            let report = await log.enforceRetention()
            let pass = RetentionPass(
                deletedSegments: report.deletedSegments, blockedByPin: report.blockedByPin, startOffset: log.minOffset,
                endOffset: log.endOffset)
            do throws(TransactionStoreError) {
                try await coordinator.store.recordAudit(
                    actor: actor, action: "log.retention",
                    detail: "\(report.deletedSegments.count) segments deleted; the log starts at \(pass.startOffset)"
                        + (report.blockedByPin ? "; a pending half message pins the oldest" : ""),
                    reason: nil, at: WallClock.nowMs())
            } catch {
                throw AdminAPIError(
                    .internalServerError, code: "STORAGE_FAILURE",
                    message: "the retention pass ran, but the audit log could not be written: \(error.message)")
            }
            return JSONResponse.make(status: .ok, pass)
        }
    }
}
