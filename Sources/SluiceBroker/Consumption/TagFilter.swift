import Foundation
import SluiceStorage

/// A RocketMQ tag expression: `*` (or empty) for every message, or tags joined by `||`.
///
/// Checked first on the tag hash kept in each queue index entry (no record read for a message
/// that cannot match), then confirmed on the record's tag (two tags can share a hash).
public struct TagFilter: Sendable, Hashable {
    public let tags: Set<String>?
    private let hashes: Set<UInt32>

    public static let all = TagFilter(tags: nil)

    private init(tags: Set<String>?) {
        self.tags = tags
        self.hashes = Set((tags ?? []).map(\.sluiceTagHash))
    }

    /// Parses `expression`.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` for an expression with an empty alternative.
    public init(expression: String) throws(BrokerError) {
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "*" {
            self.init(tags: nil)
            return
        }
        let parts = trimmed.split(separator: "||", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.contains(where: \.isEmpty) else {
            throw BrokerError(.invalidArgument, "tag expression '\(expression)' has an empty tag; write 'a || b' or '*'")
        }
        self.init(tags: Set(parts))
    }

    public var matchesEverything: Bool { tags == nil }

    /// Whether a message with this index tag hash can match.
    public func mayMatch(tagHash: UInt32) -> Bool {
        guard tags != nil else { return true }
        return hashes.contains(tagHash)
    }

    /// Whether a message with this tag matches.
    public func matches(tag: String) -> Bool {
        guard let tags else { return true }
        return tags.contains(tag)
    }
}
