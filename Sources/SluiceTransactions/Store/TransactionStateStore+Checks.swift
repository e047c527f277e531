extension TransactionStateStore {
    /// Prepared transactions whose next check is due (`next_check_at_ms <= now`), soonest first.
    ///
    /// Served by the partial index `transactions_due`, which holds prepared rows only: the cost
    /// grows with what is due, not with the table. A row with `checkOutstanding` set is one whose
    /// previous check went unanswered past its deadline.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` when `limit` is not positive,
    ///   `.storage`, `.closed`.
    public func dueForCheck(now: Int64, limit: Int) async throws(TransactionStoreError) -> [TransactionRecord] {
        guard limit > 0 else {
            throw TransactionStoreError(code: .invalidArgument, message: "limit is \(limit); it must be positive")
        }
        return try await read("find transactions due for a check") { connection in
            try connection.query(Self.dueQuery, [.integer(now), .integer(Int64(limit))]) { row throws(SQLiteError) in
                try TransactionRecord(row: row)
            }
        }
    }

    /// The checker's query. `state = 'prepared'` must appear literally for the partial index to
    /// apply, and `INDEXED BY` is needed because, without statistics, SQLite's planner prefers the
    /// equality on `transactions_state_created` and then sorts every prepared row (checked by a
    /// test with EXPLAIN QUERY PLAN).
    static let dueQuery = """
        SELECT \(TransactionRecord.columns) FROM transactions INDEXED BY transactions_due
        WHERE state = 'prepared' AND next_check_at_ms <= ?
        ORDER BY next_check_at_ms
        LIMIT ?
        """

    /// Records that a check is being sent and returns its attempt number (1 for the first), or
    /// nil when the transaction is no longer prepared (resolved or parked since `dueForCheck`):
    /// then no check must be sent.
    ///
    /// Increments `check_count`, sets the row outstanding and reschedules it to
    /// `answerDeadlineMs`, when the checker looks again if no answer came. A previous attempt
    /// still without an outcome is closed as `no_answer`. With `clientId` nil (no client of the
    /// producer connected) the attempt is recorded as `no_client` and nothing is outstanding.
    ///
    /// - Throws: `TransactionStoreError` with `.unknownTransaction`, `.storage`, `.closed`.
    public func markCheckSent(
        transactionId: String,
        clientId: String?,
        at: Int64,
        answerDeadlineMs: Int64
    ) async throws(TransactionStoreError) -> Int? {
        let attempt = try await write("record a check") { connection -> Int? in
            guard let current = try Self.currentState(connection, transactionId) else {
                throw TransactionStoreError(
                    code: .unknownTransaction, message: "no transaction with id \(transactionId)",
                    transactionId: transactionId)
            }
            guard current.state == .prepared else { return nil }
            let attempt = current.checkCount + 1
            try connection.run(
                "UPDATE transaction_checks SET outcome = 'no_answer' WHERE transaction_id = ? AND outcome IS NULL",
                [.text(transactionId)])
            try connection.run(
                """
                UPDATE transactions
                SET check_count = ?, last_check_at_ms = ?, next_check_at_ms = ?, check_outstanding = ?
                WHERE transaction_id = ?
                """,
                [
                    .integer(attempt), .integer(at), .integer(answerDeadlineMs), .integer(clientId == nil ? 0 : 1),
                    .text(transactionId),
                ])
            try connection.run(
                """
                INSERT INTO transaction_checks (transaction_id, attempt, sent_at_ms, client_id, outcome)
                VALUES (?, ?, ?, ?, ?)
                """,
                [
                    .text(transactionId), .integer(attempt), .integer(at), .text(clientId),
                    .text(clientId == nil ? CheckOutcome.noClient.rawValue : nil),
                ])
            return Int(attempt)
        }
        return attempt
    }

    /// Records how a check ended without a decision (`unknown`, `noAnswer`, `noClient`) and
    /// reschedules the transaction to `nextCheckAtMs` (unchanged when nil). Commit and rollback
    /// answers go through `resolve(…, source: .check, …)`, which closes the attempt itself.
    ///
    /// Repeating the call for an attempt that already has an outcome changes nothing. Only the
    /// latest attempt of a still-prepared transaction reschedules it.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` for a commit or rollback outcome
    ///   or an attempt that was never sent, `.unknownTransaction`, `.storage`, `.closed`.
    public func recordCheckOutcome(
        transactionId: String,
        attempt: Int,
        outcome: CheckOutcome,
        at: Int64,
        nextCheckAtMs: Int64?
    ) async throws(TransactionStoreError) {
        guard outcome != .commit, outcome != .rollback else {
            throw TransactionStoreError(
                code: .invalidArgument,
                message: "a \(outcome.rawValue) answer resolves the transaction; use resolve(source: .check)",
                transactionId: transactionId)
        }
        try await write("record a check outcome") { connection in
            guard try Self.currentState(connection, transactionId) != nil else {
                throw TransactionStoreError(
                    code: .unknownTransaction, message: "no transaction with id \(transactionId)",
                    transactionId: transactionId)
            }
            let exists =
                try connection.queryFirst(
                    "SELECT 1 FROM transaction_checks WHERE transaction_id = ? AND attempt = ?",
                    [.text(transactionId), .integer(Int64(attempt))]
                ) { _ in true } ?? false
            guard exists else {
                throw TransactionStoreError(
                    code: .invalidArgument, message: "check attempt \(attempt) was never sent",
                    transactionId: transactionId)
            }
            let changed = try connection.run(
                """
                UPDATE transaction_checks SET outcome = ?, answered_at_ms = ?
                WHERE transaction_id = ? AND attempt = ? AND outcome IS NULL
                """,
                [
                    .text(outcome.rawValue), .integer(outcome == .unknown ? at : nil), .text(transactionId),
                    .integer(Int64(attempt)),
                ])
            guard changed == 1 else { return }
            try connection.run(
                """
                UPDATE transactions
                SET check_outstanding = 0, next_check_at_ms = coalesce(?, next_check_at_ms)
                WHERE transaction_id = ? AND state = 'prepared' AND check_count = ?
                """,
                [.integer(nextCheckAtMs), .text(transactionId), .integer(Int64(attempt))])
        }
    }

    /// Every check sent for a transaction, oldest first (empty for an unknown id).
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func checkHistory(transactionId: String) async throws(TransactionStoreError) -> [CheckAttempt] {
        try await readCommitted("read check history") { connection in
            try connection.query(
                """
                SELECT attempt, sent_at_ms, client_id, outcome, answered_at_ms FROM transaction_checks
                WHERE transaction_id = ? ORDER BY attempt
                """,
                [.text(transactionId)]
            ) { (row) throws(SQLiteError) in
                CheckAttempt(
                    transactionId: transactionId,
                    attempt: Int(row.int64(at: 0)),
                    sentAtMs: row.int64(at: 1),
                    clientId: row.optionalString(at: 2),
                    outcome: try row.optionalString(at: 3).map { (text) throws(SQLiteError) in
                        try TransactionRecord.decode(CheckOutcome.self, text, column: "outcome", sql: row.sql)
                    },
                    answeredAtMs: row.optionalInt64(at: 4))
            }
        }
    }
}
