import Foundation

/// What `sluice health` learned, rendered as a table or JSON.
struct HealthReport {
    var admin: String
    var healthz: AdminClient.Reply
    var readyz: AdminClient.Reply

    var isLive: Bool { healthz.status == 200 }
    var isReady: Bool { readyz.status == 200 }

    var table: String {
        var rows: [(String, String)] = [
            ("ADMIN", admin),
            ("LIVE", "\(isLive ? "yes" : "no")  (GET /healthz \(healthz.status))"),
            ("READY", "\(isReady ? "yes" : "no")  (GET /readyz \(readyz.status)\(Self.errorSuffix(readyz)))"),
        ]
        if let recovery = readyz.object?["recovery"] as? [String: Any] {
            rows.append(("RECOVERY", Self.describe(recovery)))
        }
        return rows.map { $0.0.padding(toLength: 10, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n")
    }

    var json: String {
        let object: [String: Any] = [
            "admin": admin, "reachable": true, "live": isLive, "ready": isReady,
            "healthz": ["status": healthz.status, "body": healthz.object ?? [:]],
            "readyz": ["status": readyz.status, "body": readyz.object ?? [:]],
        ]
        return Self.render(object)
    }

    static func unreachableJSON(admin: String, error: String) -> String {
        render(["admin": admin, "reachable": false, "live": false, "ready": false, "error": error])
    }

    private static func render(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// ` NOT_READY: the commit log is ...` from an error body, or nothing.
    private static func errorSuffix(_ reply: AdminClient.Reply) -> String {
        guard let error = reply.object?["error"] as? [String: Any] else { return "" }
        return " \(error["code"] as? String ?? "?"): \(error["message"] as? String ?? "")"
    }

    private static func describe(_ recovery: [String: Any]) -> String {
        let clean = (recovery["previousShutdownWasClean"] as? Bool) ?? false
        let records = (recovery["recordsVerified"] as? Int) ?? 0
        let seconds = (recovery["durationSeconds"] as? Double) ?? 0
        let damaged = (recovery["damagedRanges"] as? Int) ?? 0
        let truncated = (recovery["truncatedTailBytes"] as? Int) ?? 0
        var text = "\(clean ? "clean" : "unclean") shutdown before; \(records) records verified in "
            + String(format: "%.3fs", seconds)
        if truncated > 0 { text += "; \(truncated) torn tail bytes dropped" }
        if damaged > 0 { text += "; \(damaged) damaged ranges" }
        return text
    }
}
