import Foundation
import SluiceStorage

/// A consumer's filter: a RocketMQ tag expression (`*` or empty for every message, or tags
/// joined by `||`), or a SQL92 expression on properties and `TAGS` (`SQLFilter`).
///
/// A tag expression is checked first on the tag hash kept in each queue index entry (no record
/// read for a message that cannot match), then confirmed on the record's tag (two tags can share
/// a hash). A SQL92 expression needs the record, so every candidate is read.
public struct TagFilter: Sendable, Equatable {
    public let tags: Set<String>?
    private let hashes: Set<UInt32>
    public let sql: SQLFilter?
    /// On a LITE topic: the lite topics the group subscribed. A message of any other lite topic
    /// does not match (the group's cursor passes it, as for a tag that does not match). Nil on
    /// other topics.
    public var liteTopics: Set<String>?

    public static let all = TagFilter(tags: nil)

    private init(tags: Set<String>?) {
        self.tags = tags
        self.hashes = Set((tags ?? []).map(\.sluiceTagHash))
        self.sql = nil
    }

    /// A SQL92 filter.
    public init(sql: SQLFilter) {
        self.tags = nil
        self.hashes = []
        self.sql = sql
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

    public var matchesEverything: Bool { tags == nil && sql == nil && liteTopics == nil }

    /// Whether a message with this index tag hash can match.
    public func mayMatch(tagHash: UInt32) -> Bool {
        guard tags != nil else { return true }
        return hashes.contains(tagHash)
    }

    /// Whether a message with this tag matches (a SQL92 filter needs `matches(_:)`).
    public func matches(tag: String) -> Bool {
        guard let tags else { return true }
        return tags.contains(tag)
    }

    /// Whether a stored message matches: its tag, and for SQL92 its properties too.
    public func matches(_ message: MessageRecord) -> Bool {
        if let liteTopics {
            guard let name = message.properties.first(where: { $0.0 == MessageProperty.liteTopic })?.1,
                liteTopics.contains(name)
            else { return false }
        }
        guard matches(tag: message.tags) else { return false }
        return sql?.matches(tag: message.tags, properties: message.properties) ?? true
    }
}
