/// A consumer group: the consumers sharing one position in every topic they subscribe to
/// (competing within the group, each group getting every message), with its retry policy.
public struct ConsumerGroup: Sendable, Codable, Hashable {
    public var name: String
    /// On FIFO topics: one message of a message group in flight at a time, in send order.
    public var fifo: Bool
    /// Deliveries of a message before it goes to the dead-letter queue `%DLQ%<name>`.
    public var maxDeliveryAttempts: Int
    /// The least time from a delivery to the next delivery of the same message, by attempt
    /// (index 0 after the first delivery); the last value repeats.
    public var retryDelaysMs: [Int64]
    public var createdAtMs: Int64
    /// Where the group starts in a topic it subscribes to for the first time.
    public var consumeFrom: ConsumeFrom

    /// RocketMQ's default: 16 retries after the first delivery.
    public static let defaultMaxDeliveryAttempts = 17
    /// RocketMQ's default retry ladder: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h.
    public static let defaultRetryDelaysMs: [Int64] = [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200]
        .map { Int64($0) * 1000 }
    public static let maxDeliveryAttemptsRange = 1...1000
    /// The prefix of a group's dead-letter topic.
    public static let deadLetterPrefix = "%DLQ%"

    public init(
        name: String, fifo: Bool = false, maxDeliveryAttempts: Int = ConsumerGroup.defaultMaxDeliveryAttempts,
        retryDelaysMs: [Int64] = ConsumerGroup.defaultRetryDelaysMs, createdAtMs: Int64,
        consumeFrom: ConsumeFrom = .latest
    ) {
        self.name = name
        self.fifo = fifo
        self.maxDeliveryAttempts = maxDeliveryAttempts
        self.retryDelaysMs = retryDelaysMs.isEmpty ? ConsumerGroup.defaultRetryDelaysMs : retryDelaysMs
        self.createdAtMs = createdAtMs
        self.consumeFrom = consumeFrom
    }

    /// The group's dead-letter topic.
    public var deadLetterTopic: String { Self.deadLetterPrefix + name }

    /// The least time after delivery number `attempt` (1-based) before the next one.
    public func retryDelayMs(afterAttempt attempt: Int) -> Int64 {
        retryDelaysMs[min(max(attempt - 1, 0), retryDelaysMs.count - 1)]
    }

    /// The group named by a dead-letter topic, or nil.
    public static func groupOfDeadLetterTopic(_ topic: String) -> String? {
        guard topic.hasPrefix(deadLetterPrefix), topic.count > deadLetterPrefix.count else { return nil }
        return String(topic.dropFirst(deadLetterPrefix.count))
    }

    /// Checks a group name: RocketMQ's rule, 1 to 255 characters of `[%a-zA-Z0-9_-]`, not
    /// starting with `%` (broker-owned).
    ///
    /// - Throws: `BrokerError` `.invalidArgument` naming the rule.
    public static func validateName(_ name: String) throws(BrokerError) {
        guard (1...255).contains(name.utf8.count) else {
            throw BrokerError(.invalidArgument, "group name must have 1 to 255 characters; got \(name.utf8.count)")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "%")
        }
        guard allowed, !name.hasPrefix("%") else {
            throw BrokerError(
                .invalidArgument, "group name '\(name)' may use only letters, digits, '_' and '-' (and '%' not first)")
        }
    }

    /// Checks the retry settings.
    ///
    /// - Throws: `BrokerError` `.invalidArgument` naming the limit.
    public func validate() throws(BrokerError) {
        try Self.validateName(name)
        guard Self.maxDeliveryAttemptsRange.contains(maxDeliveryAttempts) else {
            throw BrokerError(
                .invalidArgument,
                "maxDeliveryAttempts must be \(Self.maxDeliveryAttemptsRange.lowerBound) to "
                    + "\(Self.maxDeliveryAttemptsRange.upperBound); got \(maxDeliveryAttempts)")
        }
        guard retryDelaysMs.allSatisfy({ (0...86_400_000).contains($0) }) else {
            throw BrokerError(.invalidArgument, "retry delays must be 0 to 24 h each")
        }
        if case .timestamp(let ms) = consumeFrom, ms < 0 {
            throw BrokerError(.invalidArgument, "consumeFrom time must not be before 1970; got \(ms) ms")
        }
    }
}
