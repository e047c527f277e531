import Foundation
import SluiceBroker

/// The text forms of a group's start setting and of a reset target: `latest`, `earliest`, or an
/// RFC 3339 time such as `2026-12-05T07:00:00Z` (fractional seconds and offsets allowed).
enum GroupPosition {
    static let choices = "latest, earliest or an RFC 3339 time such as 2026-12-05T07:00:00Z"

    /// Milliseconds since the epoch of an RFC 3339 time; nil when it is not one (or before 1970).
    static func milliseconds(rfc3339 text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime]
            date = formatter.date(from: text)
        }
        guard let seconds = date?.timeIntervalSince1970, seconds >= 0, seconds < 253_402_300_800 else { return nil }
        return Int64((seconds * 1000).rounded())
    }

    static func consumeFrom(_ text: String) -> ConsumeFrom? {
        switch text.lowercased() {
        case "latest": return .latest
        case "earliest": return .earliest
        default: return milliseconds(rfc3339: text).map { .timestamp(ms: $0) }
        }
    }

    static func target(_ text: String) -> OffsetTarget? {
        switch text.lowercased() {
        case "latest": return .latest
        case "earliest": return .earliest
        default: return milliseconds(rfc3339: text).map { .timestamp(ms: $0) }
        }
    }

    static func text(_ consumeFrom: ConsumeFrom) -> String {
        switch consumeFrom {
        case .latest: "latest"
        case .earliest: "earliest"
        case .timestamp(let ms): TransactionBodies.timestamp(ms)
        }
    }

    static func text(_ target: OffsetTarget) -> String {
        switch target {
        case .latest: "latest"
        case .earliest: "earliest"
        case .timestamp(let ms): TransactionBodies.timestamp(ms)
        }
    }
}
