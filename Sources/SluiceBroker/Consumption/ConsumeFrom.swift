/// Where a consumer group starts in a topic it subscribes to for the first time (RocketMQ's
/// ConsumeFromWhere). The position is fixed per queue at that first subscription and stored, so
/// later subscriptions, restarts and new consumers of the group continue from it.
public enum ConsumeFrom: Sendable, Hashable, Codable {
    /// At the end of every queue: only messages sent after the first subscription (RocketMQ's
    /// CONSUME_FROM_LAST_OFFSET, the default).
    case latest
    /// At the oldest message each queue still keeps.
    case earliest
    /// At the first message stored at or after this time (milliseconds since the epoch).
    case timestamp(ms: Int64)

    /// How the consumer table spells it: `latest`, `earliest`, `time:<ms>`.
    public var storedText: String {
        switch self {
        case .latest: "latest"
        case .earliest: "earliest"
        case .timestamp(let ms): "time:\(ms)"
        }
    }

    /// Reads `storedText`; nil for anything else.
    public init?(storedText text: String) {
        switch text {
        case "latest": self = .latest
        case "earliest": self = .earliest
        default:
            guard text.hasPrefix("time:"), let ms = Int64(text.dropFirst(5)), ms >= 0 else { return nil }
            self = .timestamp(ms: ms)
        }
    }
}

/// Where an operator moves a group's position in a topic.
public enum OffsetTarget: Sendable, Hashable {
    /// The oldest message each queue keeps: everything is delivered again.
    case earliest
    /// The end of each queue: everything not yet received is skipped.
    case latest
    /// The first message stored at or after this time (milliseconds since the epoch).
    case timestamp(ms: Int64)
}

/// One queue's position before and after a reset.
public struct QueueOffsetChange: Sendable, Hashable, Codable {
    public var queueId: UInt32
    public var from: UInt64
    public var to: UInt64

    public init(queueId: UInt32, from: UInt64, to: UInt64) {
        self.queueId = queueId
        self.from = from
        self.to = to
    }
}
