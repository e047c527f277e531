/// RocketMQ's rules for topic names (`TopicValidator` in Apache RocketMQ): 1 to 127 characters of
/// `[%a-zA-Z0-9_-]`. Names starting with `RMQ_SYS_` (system topics such as the transaction half
/// topic) or `%` (retry and dead-letter topics, `%DLQ%<group>`) belong to the broker.
public enum TopicName {
    /// The longest topic name RocketMQ accepts.
    public static let maximumLength = 127
    /// Prefixes of names only the broker may create.
    public static let reservedPrefixes = ["RMQ_SYS_", "%"]

    /// Whether `name` is one the broker keeps for itself.
    public static func isReserved(_ name: String) -> Bool {
        reservedPrefixes.contains { name.hasPrefix($0) }
    }

    /// Checks a topic name a client or operator asked for.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` naming the rule that `name` breaks.
    public static func validate(_ name: String) throws(BrokerError) {
        if name.isEmpty {
            throw BrokerError(.invalidArgument, "topic name: must not be empty")
        }
        let length = name.unicodeScalars.count
        if length > maximumLength {
            throw BrokerError(
                .invalidArgument, "topic name: is \(length) characters; limit \(maximumLength)")
        }
        if let bad = name.unicodeScalars.first(where: { !isAllowed($0) }) {
            throw BrokerError(
                .invalidArgument,
                "topic name '\(name)': character '\(bad.escaped(asASCII: true))' is not allowed; "
                    + "use only letters, digits, '%', '_' and '-' (^[%a-zA-Z0-9_-]+$)")
        }
        if let prefix = reservedPrefixes.first(where: { name.hasPrefix($0) }) {
            throw BrokerError(
                .invalidArgument, "topic name '\(name)': names starting with '\(prefix)' are reserved for the broker")
        }
    }

    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "%", "_", "-": true
        default: false
        }
    }
}
