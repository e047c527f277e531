import NIOConcurrencyHelpers

/// The installed limit function, in a struct of its own. Never store a function type straight in
/// a generic box (`NIOLockedValueBox<(() -> UInt64)?>`): every `withLockedValue` is an inout access
/// that re-abstracts the closure on the way in and out, so each read wrapped it in two more thunks
/// for good — a leader reads it per fetch and per consumer scan, so each read grew slower with the
/// broker's age (a sync group's send took milliseconds of CPU within minutes) and the chain would
/// in the end overflow the stack. A non-generic struct field keeps one representation.
struct ConsumerReadLimit: Sendable {
    let current: @Sendable () -> UInt64
}

/// How far consumers may read: in a replicated group with sync acknowledgements, only what a
/// majority holds (the high-water mark), so nothing is delivered that a fail-over could cut.
/// Internal readers (transaction replay, recovery, replication itself) read to the end.
extension CommitLog {
    /// Installs (or removes, nil) what bounds consumer reads: a physical offset below which every
    /// record may be delivered. Called on every consumer scan, so it must be cheap and not block.
    public func setConsumerReadLimit(_ limit: (@Sendable () -> UInt64)?) {
        let first = consumerReadLimit.withLockedValue { current in
            defer { current = limit.map(ConsumerReadLimit.init(current:)) }
            return current == nil && limit != nil
        }
        if first {
            _ = addAppendListener { [weak self] queues in
                guard let self, self.consumerReadLimit.withLockedValue({ $0 }) != nil else { return }
                self.consumable.appended(queues, end: self.endOffset)
            }
        }
    }

    /// Whoever sets the limit calls this when it may have moved: consumers of queues whose new
    /// records are now below it are woken (`addConsumableListener`).
    public func consumerReadLimitAdvanced() {
        guard consumerReadLimit.withLockedValue({ $0 }) != nil else { return }
        consumable.advanced(to: consumableEnd)
    }

    /// Calls `listener` with the queues whose records the consumer read limit just reached (never
    /// without a limit: then the append listeners say it all). Keep it short, as an append listener.
    public func addConsumableListener(_ listener: @escaping @Sendable ([QueueID]) -> Void) -> UInt64 {
        consumable.addListener(listener)
    }

    public func removeConsumableListener(_ token: UInt64) { consumable.removeListener(token) }

    /// The physical offset consumers may read below right now (the log's end without a limit).
    public var consumableEnd: UInt64 {
        let end = endOffset
        guard let limit = consumerReadLimit.withLockedValue({ $0 }) else { return end }
        return min(end, limit.current())
    }

    /// Like `queueEntries`, but stopping before the first entry whose record ends past
    /// `consumableEnd`: what a consumer (receive, pull) may be given.
    public func consumableEntries(_ queue: QueueID, from queueOffset: UInt64, maxCount: Int) -> [QueueEntry] {
        let entries = queueEntries(queue, from: queueOffset, maxCount: maxCount)
        guard consumerReadLimit.withLockedValue({ $0 }) != nil else { return entries }
        let end = consumableEnd
        guard let cut = entries.firstIndex(where: { !$0.isLost && $0.physicalOffset + UInt64($0.size) > end }) else {
            return entries
        }
        return Array(entries[..<cut])
    }
}
