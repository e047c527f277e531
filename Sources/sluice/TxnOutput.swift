import Foundation

/// Rendering of the `sluice txn` commands: tables, ages and the detail view.
enum TxnOutput {
    /// Transaction objects of the admin API as the list table, in the order given.
    static func listTable(_ transactions: [[String: Any]], now: Date) -> String {
        let header = ["ID", "STATE", "AGE", "TOPIC", "CLIENT", "CHECKS", "NEXT CHECK"]
        let rows = transactions.map { transaction in
            [
                transaction["id"] as? String ?? "?",
                transaction["state"] as? String ?? "?",
                (transaction["ageSeconds"] as? NSNumber).map { age($0.int64Value) } ?? "?",
                transaction["topic"] as? String ?? "?",
                transaction["clientId"] as? String ?? "?",
                (transaction["checkCount"] as? NSNumber).map { "\($0.intValue)" } ?? "?",
                nextCheck(transaction["nextCheckAt"] as? String, now: now),
            ]
        }
        return table(header: header, rows: rows)
    }

    /// One transaction with its check history and audit trail (`GET /v1/transactions/{id}`).
    static func detail(_ object: [String: Any], now: Date) -> String {
        func text(_ key: String) -> String {
            switch object[key] {
            case let value as String: return value
            case let value as NSNumber: return value.stringValue
            default: return "-"
            }
        }
        var fields: [(String, String)] = [
            ("Transaction", text("id")),
            ("State", text("state")),
            ("Message ID", text("messageId")),
            ("Topic", text("topic")),
            ("Producer group", text("producerGroup")),
            ("Client", text("clientId")),
            ("Keys", text("keys")),
            ("Tags", text("tags")),
            ("Created", text("createdAt") + ((object["ageSeconds"] as? NSNumber).map { " (\(age($0.int64Value)) ago)" } ?? "")),
            ("Checks sent", text("checkCount") + (object["checkOutstanding"] as? Bool == true ? " (one awaiting an answer)" : "")),
            ("Last check", text("lastCheckAt")),
            ("Next check", (object["nextCheckAt"] as? String).map { "\($0) (\(nextCheck($0, now: now)))" } ?? "-"),
        ]
        if object["resolvedAt"] as? String != nil {
            fields += [
                ("Resolved", text("resolvedAt")),
                ("Resolved by", "\(text("resolvedBy")) (\(text("resolutionSource")))"),
                ("Reason", text("reason")),
            ]
        }
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        var lines = fields.map { ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }

        lines.append("")
        let checks = object["checks"] as? [[String: Any]] ?? []
        if checks.isEmpty {
            lines.append("Check history: no check-backs sent")
        } else {
            lines.append("Check history:")
            let rows = checks.map { check in
                [
                    (check["attempt"] as? NSNumber).map { "\($0.intValue)" } ?? "?",
                    check["sentAt"] as? String ?? "?",
                    check["clientId"] as? String ?? "-",
                    check["outcome"] as? String ?? "awaiting answer",
                    check["answeredAt"] as? String ?? "-",
                ]
            }
            lines.append(indent(table(header: ["ATTEMPT", "SENT", "CLIENT", "OUTCOME", "ANSWERED"], rows: rows)))
        }

        lines.append("")
        let audit = object["audit"] as? [[String: Any]] ?? []
        if audit.isEmpty {
            lines.append("Audit: no operator or policy actions")
        } else {
            lines.append("Audit:")
            let rows = audit.map { entry in
                ["at", "actor", "action", "detail", "reason"].map { entry[$0] as? String ?? "-" }
            }
            lines.append(indent(table(header: ["AT", "ACTOR", "ACTION", "DETAIL", "REASON"], rows: rows)))
        }
        return lines.joined(separator: "\n")
    }

    /// An age as an operator reads it: `45s`, `3m12s`, `2h05m`, `3d04h`.
    static func age(_ seconds: Int64) -> String {
        let seconds = max(0, seconds)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(twoDigits(seconds % 60))s" }
        if seconds < 86_400 { return "\(seconds / 3600)h\(twoDigits(seconds % 3600 / 60))m" }
        return "\(seconds / 86_400)d\(twoDigits(seconds % 86_400 / 3600))h"
    }

    /// When the next check-back is due, relative to `now`: `in 12s`, `due` (already late by
    /// less than a second), `overdue 5s`, or `-` when none is scheduled (not prepared).
    static func nextCheck(_ iso: String?, now: Date) -> String {
        guard let iso, let date = parseTimestamp(iso) else { return "-" }
        let seconds = Int64(date.timeIntervalSince(now).rounded(.down))
        if seconds > 0 { return "in \(age(seconds))" }
        if seconds > -1 { return "due" }
        return "overdue \(age(-seconds))"
    }

    /// The API's timestamps (ISO 8601 with or without milliseconds).
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Accepts what the broker's duration parser accepts: a whole number and ms, s, m or h.
    static func isDuration(_ text: String) -> Bool {
        for unit in ["ms", "s", "m", "h"] where text.hasSuffix(unit) {
            let digits = text.dropLast(unit.count)
            return !digits.isEmpty && digits.count <= 7 && digits.allSatisfy { $0.isASCII && $0.isNumber }
        }
        return false
    }

    /// Left-aligned columns two spaces apart; the last column is not padded.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1
                    ? row[column] : row[column].padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }

    private static func twoDigits(_ value: Int64) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    private static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }
}
