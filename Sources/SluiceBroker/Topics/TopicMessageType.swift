/// The kind of message a topic carries. RocketMQ 5 fixes it per topic: a producer sending a FIFO
/// message to a normal topic (or any other mismatch) is refused.
public enum TopicMessageType: String, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    /// Plain messages, delivered as soon as they are stored.
    case normal
    /// Messages with a message group; one group's messages are delivered in order.
    case fifo
    /// Messages delivered at a given time (delivery timestamp).
    case delay
    /// Half messages, delivered once the producer (or the checker) commits them.
    case transaction
    /// Messages with a priority (0 to 9): a consumer receives higher priorities first, and a
    /// message waiting long enough is served regardless (see docs/protocol.md).
    case priority
    /// Messages of lite topics (RocketMQ 5.4): each carries the name of a lite topic, a tiny
    /// per-session topic inside this parent topic; a group receives only the lite topics it
    /// subscribed (see docs/protocol.md, "Lite topics").
    case lite

    public var description: String { rawValue }

    /// The accepted spellings, for error messages: `normal|fifo|delay|transaction|priority|lite`.
    public static let choices = allCases.map(\.rawValue).joined(separator: "|")

    /// Parses a type from user input (case-insensitive).
    ///
    /// - Throws: `BrokerError` `.invalidArgument` naming the accepted values.
    public static func parse(_ text: String) throws(BrokerError) -> TopicMessageType {
        guard let type = TopicMessageType(rawValue: text.lowercased()) else {
            throw BrokerError(.invalidArgument, "type: expected one of \(choices); got '\(text)'")
        }
        return type
    }
}
