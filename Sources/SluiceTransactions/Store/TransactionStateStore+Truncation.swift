/// Undoing what a cut log tail put in the table. A replicated broker that rejoins its group cuts
/// the records no majority held (docs/architecture.md §15); the rows those records made must go
/// with them, or the broker would check back, list or count a half that no longer exists.
extension TransactionStateStore {
    /// What `forgetLogTail(from:reopening:eventOffset:)` changed.
    public struct ForgottenTail: Sendable, Equatable {
        /// Rows deleted because their half message is at or past the cut.
        public var halvesDropped: Int
        /// Rows whose commit or rollback is past the cut, prepared again.
        public var resolutionsUndone: Int

        public init(halvesDropped: Int, resolutionsUndone: Int) {
            self.halvesDropped = halvesDropped
            self.resolutionsUndone = resolutionsUndone
        }
    }

    /// In one write: deletes every transaction whose half message is at or past commit-log offset
    /// `cut` (its check attempts go by cascade), returns each of `reopening` whose half is below
    /// the cut to prepared (its commit or rollback was in the cut tail; its next check is due at
    /// once, as for a half whose first-check time has passed), and lowers the applied-event
    /// watermark to `eventOffset` (the first event-queue offset in the tail), so a crash before
    /// the log is cut replays the tail and this runs again. Idempotent.
    ///
    /// Parked rows stay parked, audit rows stay (the trail outlives the rows it names).
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func forgetLogTail(
        from cut: UInt64, reopening: [String], eventOffset: UInt64, at nowMs: Int64
    ) async throws(TransactionStoreError) -> ForgottenTail {
        try await write("forget a cut log tail", synced: true) { connection in
            try connection.run(
                "DELETE FROM transactions WHERE commit_log_offset >= ?", [.integer(Int64(clamping: cut))])
            let dropped = connection.changes
            var undone = 0
            for transactionId in reopening {
                try connection.run(
                    """
                    UPDATE transactions
                    SET state = 'prepared', next_check_at_ms = ?, check_outstanding = 0, resolved_at_ms = NULL,
                        resolution_source = NULL, resolved_by = NULL, resolution_reason = NULL
                    WHERE transaction_id = ? AND state IN ('committed', 'rolled_back') AND commit_log_offset < ?
                    """,
                    [.integer(nowMs), .text(transactionId), .integer(Int64(clamping: cut))])
                undone += connection.changes
            }
            try connection.run(
                "INSERT INTO broker_state (name, value) VALUES ('applied_event_offset', ?) "
                    + "ON CONFLICT (name) DO UPDATE SET value = min(value, excluded.value)",
                [.integer(Int64(clamping: eventOffset))])
            return ForgottenTail(halvesDropped: dropped, resolutionsUndone: undone)
        }
    }
}
