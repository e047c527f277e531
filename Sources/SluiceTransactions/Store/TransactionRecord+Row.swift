/// Reading `transactions` rows.
extension TransactionRecord {
    /// The column list every record query selects, in the order `init(row:)` reads.
    static let columns = """
        transaction_id, message_id, topic, producer_group, client_id, keys, tags, commit_log_offset, \
        commit_log_size, created_at_ms, state, check_count, last_check_at_ms, next_check_at_ms, \
        check_outstanding, resolved_at_ms, resolution_source, resolved_by, resolution_reason, first_check_delay_ms
        """

    /// Decodes the current row of a statement that selected `columns`.
    ///
    /// - Throws: `SQLiteError` with `.mismatch` when a state or source is not one this binary knows.
    init(row: SQLiteStatement) throws(SQLiteError) {
        let state = try Self.decode(TransactionState.self, row.string(at: 10), column: "state", sql: row.sql)
        let source = try row.optionalString(at: 16).map { (text) throws(SQLiteError) in
            try Self.decode(ResolutionSource.self, text, column: "resolution_source", sql: row.sql)
        }
        self.init(
            transactionId: row.string(at: 0),
            messageId: row.string(at: 1),
            topic: row.string(at: 2),
            producerGroup: row.string(at: 3),
            clientId: row.string(at: 4),
            keys: row.optionalString(at: 5),
            tags: row.optionalString(at: 6),
            commitLogOffset: row.int64(at: 7),
            commitLogSize: row.int64(at: 8),
            createdAtMs: row.int64(at: 9),
            state: state,
            checkCount: Int(row.int64(at: 11)),
            lastCheckAtMs: row.optionalInt64(at: 12),
            nextCheckAtMs: row.optionalInt64(at: 13),
            checkOutstanding: row.int64(at: 14) != 0,
            resolvedAtMs: row.optionalInt64(at: 15),
            resolutionSource: source,
            resolvedBy: row.optionalString(at: 17),
            resolutionReason: row.optionalString(at: 18),
            firstCheckDelayMs: row.optionalInt64(at: 19))
    }

    static func decode<T: RawRepresentable<String>>(
        _ type: T.Type, _ text: String, column: String, sql: String
    ) throws(SQLiteError) -> T {
        guard let value = T(rawValue: text) else {
            throw SQLiteError(code: .mismatch, message: "unexpected value '\(text)' in column \(column)", sql: sql)
        }
        return value
    }
}
