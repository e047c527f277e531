extension TransactionStateStore {
    /// Moves the next check of prepared transactions without sending one: the checker's "wait"
    /// when no producer instance is live or a producer group is over its rate limit.
    ///
    /// Only `next_check_at_ms` changes: `check_count`, `check_outstanding` and the check history
    /// stay as they are, so waiting spends no check budget. Ids that are unknown or no longer
    /// prepared are skipped. All rows move in one write.
    ///
    /// - Parameter nextCheckAtMs: the new next-check time of each transaction id.
    /// - Returns: how many transactions moved.
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    @discardableResult
    public func postponeChecks(_ nextCheckAtMs: [String: Int64]) async throws(TransactionStoreError) -> Int {
        guard !nextCheckAtMs.isEmpty else { return 0 }
        return try await write("postpone checks") { connection in
            var moved = 0
            for (transactionId, atMs) in nextCheckAtMs {
                moved += try connection.run(
                    "UPDATE transactions SET next_check_at_ms = ? WHERE transaction_id = ? AND state = 'prepared'",
                    [.integer(atMs), .text(transactionId)])
            }
            return moved
        }
    }

    /// Takes back check `attempt`, which `markCheckSent` recorded but which could not be
    /// delivered: deletes the attempt, gives its unit of check budget back (`check_count` − 1,
    /// `last_check_at_ms` back to the previous attempt's), clears `check_outstanding` and
    /// reschedules the transaction to `nextCheckAtMs`.
    ///
    /// Only the latest attempt of a still-prepared transaction, with no outcome yet, is
    /// withdrawn; anything else (answered, resolved, superseded) is left alone.
    ///
    /// - Returns: whether the attempt was withdrawn.
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    @discardableResult
    public func withdrawCheck(
        transactionId: String,
        attempt: Int,
        nextCheckAtMs: Int64
    ) async throws(TransactionStoreError) -> Bool {
        try await write("withdraw a check") { connection in
            let deleted = try connection.run(
                """
                DELETE FROM transaction_checks
                WHERE transaction_id = ? AND attempt = ? AND outcome IS NULL
                  AND EXISTS (SELECT 1 FROM transactions
                              WHERE transaction_id = ? AND state = 'prepared' AND check_count = ?)
                """,
                [.text(transactionId), .integer(Int64(attempt)), .text(transactionId), .integer(Int64(attempt))])
            guard deleted == 1 else { return false }
            try connection.run(
                """
                UPDATE transactions
                SET check_count = check_count - 1, check_outstanding = 0, next_check_at_ms = ?,
                    last_check_at_ms = (SELECT sent_at_ms FROM transaction_checks
                                        WHERE transaction_id = ? AND attempt = ?)
                WHERE transaction_id = ?
                """,
                [.integer(nextCheckAtMs), .text(transactionId), .integer(Int64(attempt - 1)), .text(transactionId)])
            return true
        }
    }
}
