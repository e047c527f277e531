extension TransactionStateStore {
    /// How many transactions are in each state (every state present, zero when empty).
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    /// Reads the counts the table's triggers keep (migration 0014), not the table itself, whose
    /// resolved rows grow with the broker's age.
    public func countsByState() async throws(TransactionStoreError) -> [TransactionState: Int] {
        let rows = try await readCommitted("count transactions by state") { connection in
            try connection.query("SELECT state, count FROM transaction_state_counts") {
                (row) throws(SQLiteError) in
                (
                    try TransactionRecord.decode(
                        TransactionState.self, row.string(at: 0), column: "state", sql: row.sql),
                    Int(row.int64(at: 1))
                )
            }
        }
        var counts = Dictionary(uniqueKeysWithValues: TransactionState.allCases.map { ($0, 0) })
        for (state, count) in rows {
            counts[state] = count
        }
        return counts
    }

    /// Pending transactions (in `states`) counted by age at `now`.
    ///
    /// With boundaries `[b0, b1, …, bn]` the buckets are `[0, b0)`, `[b0, b1)`, …, `[bn, ∞)`;
    /// all are returned, zeros included. A transaction created after `now` counts as age 0.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` when the boundaries are not
    ///   positive and strictly increasing, or `states` is empty; `.storage`, `.closed`.
    public func countsByAge(
        now: Int64,
        boundariesMs: [Int64] = AgeBucketCount.defaultBoundariesMs,
        states: [TransactionState] = [.prepared, .parked]
    ) async throws(TransactionStoreError) -> [AgeBucketCount] {
        guard !states.isEmpty else {
            throw TransactionStoreError(code: .invalidArgument, message: "states is empty")
        }
        guard zip([0] + boundariesMs, boundariesMs).allSatisfy({ $0 < $1 }) else {
            throw TransactionStoreError(
                code: .invalidArgument, message: "age bucket boundaries \(boundariesMs) are not positive and increasing"
            )
        }
        // ?1 is now; ?2… are the boundaries. State names come from the enum, never from input.
        let cases = boundariesMs.indices.map { "WHEN ?1 - created_at_ms < ?\($0 + 2) THEN \($0)" }
        let stateList = Set(states).map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
        let sql = """
            SELECT CASE \(cases.joined(separator: " ")) ELSE \(boundariesMs.count) END AS bucket, count(*)
            FROM transactions WHERE state IN (\(stateList)) GROUP BY bucket
            """
        let bindings: [SQLiteValue] = [.integer(now)] + boundariesMs.map { .integer($0) }
        let rows = try await readCommitted("count transactions by age") { connection in
            try connection.withUncachedStatement(sql) { (statement) throws(SQLiteError) in
                try statement.bind(bindings)
                var rows: [(bucket: Int, count: Int)] = []
                while try statement.step() {
                    rows.append((Int(statement.int64(at: 0)), Int(statement.int64(at: 1))))
                }
                return rows
            }
        }
        let lowers = [0] + boundariesMs
        var buckets = lowers.indices.map { index in
            AgeBucketCount(
                minimumAgeMs: lowers[index],
                maximumAgeMs: index < boundariesMs.count ? boundariesMs[index] : nil,
                count: 0)
        }
        for row in rows {
            buckets[row.bucket].count = row.count
        }
        return buckets
    }

    /// The age at `now` of the oldest prepared or parked transaction; nil when none is pending.
    ///
    /// Two index lookups on (state, created_at_ms), independent of the table size.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func oldestPendingAgeMs(now: Int64) async throws(TransactionStoreError) -> Int64? {
        let oldest = try await readCommitted("find the oldest pending transaction") { connection in
            try connection.queryFirst(
                """
                SELECT min(oldest) FROM (
                    SELECT min(created_at_ms) AS oldest FROM transactions WHERE state = 'prepared'
                    UNION ALL
                    SELECT min(created_at_ms) AS oldest FROM transactions WHERE state = 'parked'
                )
                """
            ) { row in row.optionalInt64(at: 0) } ?? nil
        }
        return oldest.map { max(0, now - $0) }
    }
}
