/// What the broker needs to keep this table in step with the commit log, which is the durable
/// truth (see docs/transactions.md).
extension TransactionStateStore {
    /// The transaction event queue offset below which every event is known applied here.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func appliedEventOffset() async throws(TransactionStoreError) -> UInt64 {
        try await read("read the applied event offset") { connection in
            let value = try connection.queryFirst(
                "SELECT value FROM broker_state WHERE name = 'applied_event_offset'"
            ) { row throws(SQLiteError) in row.int64(at: 0) }
            return UInt64(max(0, value ?? 0))
        }
    }

    /// Records that every event below `offset` is applied. Moves only forwards unless
    /// `replacing` (after a replay, which knows the exact position).
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func setAppliedEventOffset(_ offset: UInt64, replacing: Bool = false) async throws(TransactionStoreError) {
        let sql = replacing
            ? "INSERT INTO broker_state (name, value) VALUES ('applied_event_offset', ?) "
                + "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            : "INSERT INTO broker_state (name, value) VALUES ('applied_event_offset', ?) "
                + "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)"
        try await write("record the applied event offset") { connection in
            try connection.run(sql, [.integer(Int64(offset))])
        }
    }

    /// The lowest commit-log offset a prepared or parked transaction's half message occupies
    /// (nil when none is pending): the retention pin.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func oldestPendingCommitLogOffset() async throws(TransactionStoreError) -> UInt64? {
        try await read("find the oldest pending half message") { connection in
            try connection.queryFirst(
                """
                SELECT min(commit_log_offset) FROM transactions INDEXED BY transactions_pending_offset
                WHERE state IN ('prepared', 'parked')
                """
            ) { row throws(SQLiteError) in row.optionalInt64(at: 0) }.flatMap { $0 }.map { UInt64($0) }
        }
    }
}
