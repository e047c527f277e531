import SluiceStorage

/// A consumer's RocketMQ SQL92 filter (`FilterExpression` type SQL), parsed once per receive and
/// evaluated on each candidate message's user properties and tag (`TAGS`).
///
/// Unlike a tag filter it cannot be checked on the queue index's tag hash: every candidate record
/// is read. Evaluation compares the stored strings in place, so it allocates nothing per message.
public struct SQLFilter: Sendable, Equatable {
    /// The longest expression accepted (it arrives from a client).
    public static let maximumLength = 4096
    public let expression: String
    let tree: SQLFilterExpression

    /// Parses `expression`.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` with what is wrong and where.
    public init(_ expression: String) throws(BrokerError) {
        guard expression.utf8.count <= Self.maximumLength else {
            throw BrokerError(
                .invalidArgument,
                "SQL92 filter is \(expression.utf8.count) bytes; the limit is \(Self.maximumLength)")
        }
        do throws(SQLFilterSyntaxError) {
            tree = try SQLFilterParser.parse(expression)
        } catch {
            throw BrokerError(.invalidArgument, "SQL92 filter '\(expression)': \(error)")
        }
        self.expression = expression
    }

    /// Whether a message with this tag (empty: none) and these properties matches.
    public func matches(tag: String, properties: [(String, String)]) -> Bool {
        tree.evaluate { name in
            if name == "TAGS" { return tag.isEmpty ? nil : tag }
            // The broker's own properties are not the client's to filter on.
            if name.hasPrefix(TransactionEvent.Property.prefix) { return nil }
            for (key, value) in properties where key == name { return value }
            return nil
        } == .yes
    }

    public static func == (left: SQLFilter, right: SQLFilter) -> Bool { left.expression == right.expression }
}
