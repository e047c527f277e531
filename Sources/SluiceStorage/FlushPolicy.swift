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

/// How durable one append must be before it completes. Only `FlushPolicy.sync` tells the two
/// apart: under async flush every append is deferred anyway.
public enum AppendDurability: Sendable, Hashable {
    /// As the flush policy promises (sync flush: after the `fdatasync` that covers it).
    case policy
    /// Completes once written to the page cache; made durable — and only then readable through
    /// queues, by consumers and by followers — by the next sync: the next policy-durable batch,
    /// or `CommitLogConfiguration.deferredSyncDelay` after it at the latest. For records whose
    /// loss in a power failure something else repairs: a transaction's commit or rollback, whose
    /// half stays durable and is checked back with its producer if the decision is lost.
    /// A `kill -9` loses nothing: the page cache survives, and recovery syncs what it finds.
    case deferred
}
