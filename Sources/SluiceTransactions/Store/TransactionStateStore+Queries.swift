extension TransactionStateStore {
    /// The largest page `list(filter:limit:after:)` returns.
    public static let maximumPageSize = 1_000

    /// One transaction, or nil for an unknown id.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func transaction(id: String) async throws(TransactionStoreError) -> TransactionRecord? {
        try await read("read a transaction") { connection in
            try connection.queryFirst(
                "SELECT \(TransactionRecord.columns) FROM transactions WHERE transaction_id = ?", [.text(id)]
            ) { row throws(SQLiteError) in try TransactionRecord(row: row) }
        }
    }

    /// Lists transactions matching `filter`, oldest first, `limit` at a time.
    ///
    /// Keyset pagination on (created_at_ms, transaction_id): pass the returned `nextCursor` to
    /// get the next page. Every matching row is returned exactly once across the pages, even
    /// when rows are added or resolved in between (a row whose state changes out of a state
    /// filter simply stops matching).
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` when `limit` is outside
    ///   1...`maximumPageSize`, `.storage`, `.closed`.
    public func list(
        filter: TransactionFilter = TransactionFilter(),
        limit: Int,
        after cursor: TransactionCursor? = nil
    ) async throws(TransactionStoreError) -> TransactionPage {
        guard (1...Self.maximumPageSize).contains(limit) else {
            throw TransactionStoreError(
                code: .invalidArgument, message: "limit is \(limit); it must be in 1...\(Self.maximumPageSize)")
        }
        let (sql, bindings) = Self.listStatement(filter: filter, limit: limit, after: cursor)
        let rows = try await readCommitted("list transactions") { connection in
            try connection.query(sql, bindings) { row throws(SQLiteError) in try TransactionRecord(row: row) }
        }
        guard rows.count > limit else {
            return TransactionPage(records: rows, nextCursor: nil)
        }
        let page = Array(rows.prefix(limit))
        let last = page[page.count - 1]
        return TransactionPage(
            records: page,
            nextCursor: TransactionCursor(createdAtMs: last.createdAtMs, transactionId: last.transactionId))
    }

    /// The listing's SQL and bindings; it fetches `limit + 1` rows to tell whether a next page exists.
    static func listStatement(
        filter: TransactionFilter, limit: Int, after cursor: TransactionCursor?
    ) -> (sql: String, bindings: [SQLiteValue]) {
        var conditions: [String] = []
        var bindings: [SQLiteValue] = []
        if let state = filter.state {
            conditions.append("state = ?")
            bindings.append(.text(state.rawValue))
        }
        if let createdBeforeMs = filter.createdBeforeMs {
            conditions.append("created_at_ms < ?")
            bindings.append(.integer(createdBeforeMs))
        }
        if let producerGroup = filter.producerGroup {
            conditions.append("producer_group = ?")
            bindings.append(.text(producerGroup))
        }
        if let topic = filter.topic {
            conditions.append("topic = ?")
            bindings.append(.text(topic))
        }
        if let clientId = filter.clientId {
            conditions.append("client_id = ?")
            bindings.append(.text(clientId))
        }
        if let cursor {
            conditions.append("(created_at_ms, transaction_id) > (?, ?)")
            bindings.append(contentsOf: [.integer(cursor.createdAtMs), .text(cursor.transactionId)])
        }
        bindings.append(.integer(Int64(limit + 1)))
        // The text varies only with which filters are set (at most 64 shapes), so caching is safe.
        let sql = """
            SELECT \(TransactionRecord.columns) FROM transactions
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY created_at_ms, transaction_id
            LIMIT ?
            """
        return (sql, bindings)
    }

    /// The audit trail of one transaction, oldest first.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func auditLog(transactionId: String) async throws(TransactionStoreError) -> [AuditEntry] {
        try await readCommitted("read the audit log") { connection in
            try connection.query(
                """
                SELECT id, at_ms, actor, action, transaction_id, detail, reason FROM audit_log
                WHERE transaction_id = ? ORDER BY id
                """,
                [.text(transactionId)]
            ) { row in
                AuditEntry(
                    id: row.int64(at: 0), atMs: row.int64(at: 1), actor: row.string(at: 2), action: row.string(at: 3),
                    transactionId: row.optionalString(at: 4), detail: row.optionalString(at: 5),
                    reason: row.optionalString(at: 6))
            }
        }
    }
}
