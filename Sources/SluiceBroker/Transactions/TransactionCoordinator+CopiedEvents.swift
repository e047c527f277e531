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
            let bounds = log.queueBounds(TransactionEvent.queue)
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

    /// The follower's log was cut (a divergent tail dropped): events at or past the event queue's
    /// new end will be copied again, possibly different ones, so the cursor moves back to it.
    /// Rows the dropped events made stay in the table (see docs/architecture.md §15).
    public func copiedLogTruncated() async {
        await serializer.run(Self.copiedEventsKey) { () async -> Void in
            let next = log.queueBounds(TransactionEvent.queue).next
            copiedEventsCursor.withLockedValue { cursor in cursor = min(cursor ?? next, next) }
        }
    }
}
