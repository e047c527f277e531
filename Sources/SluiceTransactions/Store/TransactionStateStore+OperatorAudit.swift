extension TransactionStateStore {
    /// Records an operator resolution refused before it reached the table (the coordinator
    /// found no such transaction, or the opposite resolution already stands), so that every
    /// operator resolve leaves an audit row, as `docs/transactions.md` promises.
    ///
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func recordRefusedResolve(
        actor: String, resolution: TransactionResolution, transactionId: String, detail: String, reason: String?, at: Int64
    ) async throws(TransactionStoreError) {
        try await write("write the audit log", synced: true) { connection in
            _ = try connection.run(
                "INSERT INTO audit_log (at_ms, actor, action, transaction_id, detail, reason) VALUES (?, ?, ?, ?, ?, ?)",
                [.integer(at), .text(actor), .text("resolve.\(resolution)"), .text(transactionId), .text(detail), .text(reason)])
        }
    }
}
