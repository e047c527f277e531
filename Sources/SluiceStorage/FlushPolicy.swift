/// When an append counts as done, named as RocketMQ names its flush modes.
public enum FlushPolicy: Sendable, Hashable, CustomStringConvertible {
    /// SYNC_FLUSH: an append completes only after `fdatasync` covered it (acknowledged ⇒ on disk).
    /// Many concurrent appends share one sync (group commit).
    case sync
    /// ASYNC_FLUSH: an append completes once written to the page cache; a flush every `interval`
    /// makes it durable. A crash can lose up to one interval of acknowledged appends.
    case async(interval: Duration)

    public var description: String {
        switch self {
        case .sync: "sync"
        case .async(let interval): "async(\(interval))"
        }
    }
}
