extension TransactionStateStore {
    /// The largest page of `recentAudit`.
    public static let maximumAuditPage = 1000

    /// Records an operator action that concerns no transaction (deleting a topic, say) in the
    /// audit log, so every destructive admin request names who made it.
    ///
    /// - Parameters:
    ///   - actor: the operator's name (the `X-Sluice-Actor` header).
    ///   - action: what was done, e.g. `topic.delete`.
    ///   - detail: what it affected, e.g. `topic orders (fifo, 4 queues)`.
    /// - Throws: `TransactionStoreError` with `.storage`, `.closed`.
    public func recordAudit(actor: String, action: String, detail: String?, reason: String?, at: Int64)
        async throws(TransactionStoreError)
    {
        // The audit trail is not in the log: sync it, so a power loss cannot erase who did what.
        try await write("write the audit log", synced: true) { connection in
            _ = try connection.run(
                "INSERT INTO audit_log (at_ms, actor, action, transaction_id, detail, reason) VALUES (?, ?, ?, NULL, ?, ?)",
                [.integer(at), .text(actor), .text(action), .text(detail), .text(reason)])
        }
    }

    /// The newest audit entries (operator and policy actions of every kind), newest first.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` for a limit outside
    ///   1...`maximumAuditPage`, `.storage`, `.closed`.
    public func recentAudit(limit: Int) async throws(TransactionStoreError) -> [AuditEntry] {
        guard (1...Self.maximumAuditPage).contains(limit) else {
            throw TransactionStoreError(
                code: .invalidArgument, message: "limit \(limit); expected 1 to \(Self.maximumAuditPage)")
        }
        return try await readCommitted("read the audit log") { connection in
            try connection.query(
                "SELECT id, at_ms, actor, action, transaction_id, detail, reason FROM audit_log ORDER BY id DESC LIMIT ?",
                [.integer(Int64(limit))]
            ) { row in
                AuditEntry(
                    id: row.int64(at: 0), atMs: row.int64(at: 1), actor: row.string(at: 2), action: row.string(at: 3),
                    transactionId: row.optionalString(at: 4), detail: row.optionalString(at: 5),
                    reason: row.optionalString(at: 6))
            }
        }
    }
}
