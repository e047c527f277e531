import Foundation

/// Rendering of the `sluice message` commands.
enum MessageOutput {
    /// Every record of one message id, one block each.
    static func detail(messageId: String, _ messages: [[String: Any]]) -> String {
        var lines = ["Message ID: \(messageId)", "Records:    \(messages.count), oldest first"]
        for (number, message) in messages.enumerated() {
            lines.append("")
            let role = message["role"] as? String ?? "?"
            lines.append("[\(number + 1)] \(role) in \(location(message))")
            var fields: [(String, String)] = [
                ("Type", text(message["type"])),
                ("Stored", text(message["storedAt"])),
                ("Born", text(message["bornAt"])),
                ("Log offset", "\(text(message["physicalOffset"])) (\(text(message["size"])) bytes)"),
                ("Tags", text(message["tags"])),
                ("Keys", (message["keys"] as? [String]).map { $0.isEmpty ? "-" : $0.joined(separator: " ") } ?? "-"),
                ("Properties", pairs(message["properties"])),
                ("System", pairs(message["systemProperties"])),
                ("Body", body(message)),
            ]
            if let transaction = message["transaction"] as? [String: Any] {
                var state = "\(text(transaction["id"])) \(text(transaction["state"]))"
                if transaction["resolvedBy"] as? String != nil {
                    state += " by \(text(transaction["resolvedBy"])) (\(text(transaction["resolutionSource"])))"
                }
                fields.append(("Transaction", state))
            }
            let width = (fields.map(\.0.count).max() ?? 0) + 2
            lines += fields.map { "    " + ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }
        }
        return lines.joined(separator: "\n")
    }

    /// The `find` table.
    static func findTable(_ messages: [[String: Any]]) -> String {
        let rows = messages.map { message in
            [
                text(message["messageId"]), text(message["role"]), text(message["topic"]),
                text(message["queueId"]), text(message["queueOffset"]), text(message["storedAt"]),
                (message["keys"] as? [String])?.joined(separator: " ") ?? "-", shortBody(message),
            ]
        }
        return TxnOutput.table(
            header: ["MESSAGE ID", "ROLE", "TOPIC", "QUEUE", "OFFSET", "STORED", "KEYS", "BODY"], rows: rows)
    }

    /// The `trace` table: AT, EVENT, DETAILS (`name=value`, sorted by name).
    static func traceTable(_ events: [[String: Any]]) -> String {
        let rows = events.map { event in
            [text(event["at"]), text(event["event"]), pairs(event["details"], empty: "")]
        }
        return TxnOutput.table(header: ["AT", "EVENT", "DETAILS"], rows: rows)
    }

    private static func location(_ message: [String: Any]) -> String {
        "\(text(message["topic"]))#\(text(message["queueId"])) offset \(text(message["queueOffset"]))"
    }

    private static func body(_ message: [String: Any]) -> String {
        let size = text(message["bodySize"])
        guard let preview = message["bodyPreview"] as? [String: Any], let content = preview["text"] as? String else {
            return "\(size) bytes"
        }
        let cut = preview["truncated"] as? Bool == true ? "…" : ""
        if preview["encoding"] as? String == "base64" {
            return "\(size) bytes, base64 \(content)\(cut)"
        }
        return "\(size) bytes, \"\(content.replacingOccurrences(of: "\n", with: "\\n"))\(cut)\""
    }

    /// The body preview in one short cell.
    private static func shortBody(_ message: [String: Any]) -> String {
        guard let preview = message["bodyPreview"] as? [String: Any], let content = preview["text"] as? String,
            preview["encoding"] as? String == "utf8"
        else { return "\(text(message["bodySize"])) bytes" }
        let flat = content.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 40 ? String(flat.prefix(40)) + "…" : flat
    }

    private static func pairs(_ value: Any?, empty: String = "-") -> String {
        guard let object = value as? [String: Any], !object.isEmpty else { return empty }
        return object.keys.sorted().map { "\($0)=\(text(object[$0]))" }.joined(separator: " ")
    }

    private static func text(_ value: Any?) -> String {
        switch value {
        case let string as String: string
        case let number as NSNumber: number.stringValue
        default: "-"
        }
    }
}
