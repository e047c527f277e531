import Logging
import NIOConcurrencyHelpers
import SluiceStorage
import SluiceTransactions

/// A follower of a replicated broker group (§15) gets its transaction events by copying the
/// leader's log, never through `prepare` or `end`, so nothing would put them in its table: these
/// replay them as they arrive, so a follower promoted without a restart already knows every half
/// it copied (and which were committed or rolled back) and its checker asks about the right ones.
extension TransactionCoordinator {
    /// One replay at a time: the maintenance tick, a promotion and a truncation all move the cursor.
    static let copiedEventsKey = "\u{0}copied-events"

    /// Applies the transaction events copied into the log since the last call (a half becomes a
    /// prepared row, a commit or rollback resolves it), in batches, and moves the cursor the
    /// follower's applied-event watermark is persisted from. Does nothing while local appends are
    /// accepted: a writer applies its own events as it appends them. The maintenance service
    /// calls it every tick; a promotion calls it once more before local appends are accepted.
    /// Returns how many events changed the table.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written (the cursor
    ///   stays, so the next call tries again from the same event).
    @discardableResult
    public func applyCopiedEvents() async throws(BrokerError) -> Int {
        try await serializer.run(Self.copiedEventsKey) { () async throws(BrokerError) -> Int in
            guard log.refusesLocalAppends else { return 0 }
            var bounds = log.queueBounds(TransactionEvent.queue)
            if let limit = pendingCutEventOffset.withLockedValue({ $0 }) {
                // A tail is about to be cut: its events were just undone; never replay them.
                bounds.next = min(bounds.next, limit)
            }
            let cursor: UInt64
            if let known = copiedEventsCursor.withLockedValue({ $0 }) {
                cursor = known
            } else {
                do throws(TransactionStoreError) {
                    cursor = try await store.appliedEventOffset()
                } catch {
                    throw BrokerError(.storageFailure, "cannot read the applied event offset: \(error.message)", cause: error)
                }
            }
            let from = max(bounds.min, min(bounds.next, cursor))
            guard from < bounds.next else {
                copiedEventsCursor.withLockedValue { $0 = bounds.next }
                return 0
            }
            var report = ReconcileReport(fromOffset: from, toOffset: bounds.next)
            try await replayEvents(from: from, to: bounds.next, report: &report)
            copiedEventsCursor.withLockedValue { $0 = bounds.next }
            let changed = report.halvesInserted + report.resolutionsApplied
            if changed > 0 {
                await refreshPin()
                logger.debug(
                    "copied transaction events applied",
                    metadata: [
                        "events.from": "\(from)", "events.to": "\(bounds.next)", "halves.inserted": "\(report.halvesInserted)",
                        "resolutions.applied": "\(report.resolutionsApplied)",
                    ])
            }
            return changed
        }
    }

    /// The log is about to be cut at commit-log offset `cut` (a divergent tail no majority held,
    /// docs/architecture.md §15): undoes what the tail's transaction events did to the table
    /// before the records go. A half in the tail loses its row (and its check attempts), so it
    /// is never checked, listed or resolved; a commit or rollback in the tail of a half below
    /// the cut puts that row back to prepared (the new leader decides it, and its resolution is
    /// copied back). The applied-event watermark drops to the tail's first event first, so a
    /// crash before the cut replays the tail and this runs again. Returns what changed.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written: the caller
    ///   must not cut the log then.
    @discardableResult
    public func forgetLogTail(from cut: UInt64) async throws(BrokerError) -> TransactionStateStore.ForgottenTail {
        try await serializer.run(Self.copiedEventsKey) { () async throws(BrokerError) -> TransactionStateStore.ForgottenTail in
            let queue = TransactionEvent.queue
            let bounds = log.queueBounds(queue)
            let first = firstEvent(atOrPast: cut, bounds: bounds)
            var halves = Set<String>()
            var resolved = Set<String>()
            var offset = first
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(512, bounds.next - offset)))
                if entries.isEmpty { break }
                for entry in entries {
                    guard let record = try? log.read(entry, of: queue),
                        let kind = record.property(TransactionEvent.Property.event).flatMap(TransactionEvent.Kind.init),
                        let transactionId = record.property(TransactionEvent.Property.transactionId)
                    else { continue }
                    if kind == .half { halves.insert(transactionId) } else { resolved.insert(transactionId) }
                }
                offset = entries[entries.count - 1].queueOffset + 1
            }
            for token in deferred?.dropTail(from: cut, resolvedInTail: resolved) ?? [] { watermark.end(token) }
            let forgotten = unappliedResolutions.withLockedValue { pending in
                let gone = pending.filter { halves.contains($0.key) || resolved.contains($0.key) }
                for key in gone.keys { pending.removeValue(forKey: key) }
                return gone.values.map(\.token)
            }
            for token in forgotten { watermark.end(token) }
            let result: TransactionStateStore.ForgottenTail
            do throws(TransactionStoreError) {
                result = try await store.forgetLogTail(
                    from: cut, reopening: resolved.subtracting(halves).sorted(), eventOffset: first, at: nowMs())
            } catch {
                throw BrokerError(.storageFailure, "cannot undo a cut log tail's transactions: \(error.message)", cause: error)
            }
            copiedEventsCursor.withLockedValue { cursor in cursor = min(cursor ?? first, first) }
            pendingCutEventOffset.withLockedValue { $0 = first }
            await refreshPin()
            logger.warning(
                "transactions of a cut log tail undone",
                metadata: [
                    "cut": "\(cut)", "events.from": "\(first)", "events.to": "\(bounds.next)",
                    "halves.dropped": "\(result.halvesDropped)", "resolutions.undone": "\(result.resolutionsUndone)",
                ])
            return result
        }
    }

    /// The first event-queue offset whose record starts at or past commit-log offset `cut`
    /// (`bounds.next` when none does); the queue's physical offsets grow with its offsets.
    private func firstEvent(atOrPast cut: UInt64, bounds: (min: UInt64, next: UInt64)) -> UInt64 {
        var low = bounds.min
        var high = bounds.next
        while low < high {
            let middle = low + (high - low) / 2
            guard let entry = log.queueEntries(TransactionEvent.queue, from: middle, maxCount: 1).first else {
                high = middle
                continue
            }
            if entry.physicalOffset >= cut { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The follower's log was cut (a divergent tail dropped): events at or past the event queue's
    /// new end will be copied again, possibly different ones, so the cursor moves back to it.
    /// What the dropped events did to the table was undone before the cut (`forgetLogTail`).
    public func copiedLogTruncated() async {
        await serializer.run(Self.copiedEventsKey) { () async -> Void in
            let next = log.queueBounds(TransactionEvent.queue).next
            copiedEventsCursor.withLockedValue { cursor in cursor = min(cursor ?? next, next) }
            pendingCutEventOffset.withLockedValue { $0 = nil }
        }
    }
}
