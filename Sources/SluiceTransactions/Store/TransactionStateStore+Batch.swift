/// Many rows in one write: the broker holds young half messages in memory and writes them here
/// in batches (see `TransactionCoordinator`'s deferred halves), so most transactions cost one
/// inserted row instead of an insert, a read and an update.
extension TransactionStateStore {
    /// A transaction whose resolution came before its half reached the table.
    public struct ResolvedAtOnce: Sendable, Hashable {
        public var prepared: PreparedTransaction
        public var resolution: TransactionResolution
        public var source: ResolutionSource
        public var actor: String?
        public var reason: String?
        public var resolvedAtMs: Int64

        public init(
            prepared: PreparedTransaction, resolution: TransactionResolution, source: ResolutionSource,
            actor: String?, reason: String?, resolvedAtMs: Int64
        ) {
            self.prepared = prepared
            self.resolution = resolution
            self.source = source
            self.actor = actor
            self.reason = reason
            self.resolvedAtMs = resolvedAtMs
        }
    }

    /// `recordPrepared(_:)` for many half messages in one write, answered in order.
    ///
    /// - Throws: `TransactionStoreError` (`.invalidArgument` for the first invalid row, nothing
    ///   written; `.storage`, `.closed`): the whole batch or nothing.
    public func recordPrepared(batch: [PreparedTransaction]) async throws(TransactionStoreError)
        -> [RecordPreparedResult]
    {
        if batch.isEmpty { return [] }
        var rows: [(PreparedTransaction, Int64)] = []
        rows.reserveCapacity(batch.count)
        for transaction in batch {
            try Self.validate(transaction)
            rows.append((transaction, try nextCheckAt(transaction)))
        }
        return try await write("record \(batch.count) prepared transactions") { [rows] connection in
            var results: [RecordPreparedResult] = []
            results.reserveCapacity(rows.count)
            for (transaction, nextCheckAtMs) in rows {
                results.append(try Self.insertPreparedRow(connection, transaction, nextCheckAtMs: nextCheckAtMs))
            }
            return results
        }
    }

    /// Inserts each transaction directly in its final state (committed or rolled back), as if it
    /// had been recorded prepared and then resolved. Producer and check resolutions only: they
    /// carry no audit row.
    ///
    /// - Returns: per row, `.inserted`, or `.duplicate` naming the transaction that already holds
    ///   its (client id, topic, message id); nothing is written for a duplicate.
    /// - Throws: `TransactionStoreError` (`.invalidArgument`: nothing written; `.storage`,
    ///   `.closed`): the whole batch or nothing.
    public func recordResolved(batch: [ResolvedAtOnce]) async throws(TransactionStoreError)
        -> [RecordPreparedResult]
    {
        if batch.isEmpty { return [] }
        for row in batch {
            try Self.validate(row.prepared)
            guard row.source == .producer || row.source == .check else {
                throw TransactionStoreError(
                    code: .invalidArgument,
                    message: "a \(row.source.rawValue) resolution is audited; record the transaction prepared first",
                    transactionId: row.prepared.transactionId)
            }
        }
        return try await write("record \(batch.count) resolved transactions") { connection in
            var results: [RecordPreparedResult] = []
            results.reserveCapacity(batch.count)
            for row in batch {
                let transaction = row.prepared
                let state: TransactionState = row.resolution == .commit ? .committed : .rolledBack
                do {
                    try connection.run(
                        Self.insertResolved,
                        [
                            .text(transaction.transactionId), .text(transaction.messageId), .text(transaction.topic),
                            .text(transaction.producerGroup), .text(transaction.clientId), .text(transaction.keys),
                            .text(transaction.tags), .integer(transaction.commitLogOffset),
                            .integer(transaction.commitLogSize), .integer(transaction.createdAtMs),
                            .text(state.rawValue), .integer(row.resolvedAtMs), .text(row.source.rawValue),
                            .text(row.actor), .text(row.reason), .integer(transaction.firstCheckDelayMs),
                        ])
                } catch {
                    throw Self.duplicateIdError(error, transaction)
                }
                if connection.changes == 1 {
                    results.append(.inserted(transactionId: transaction.transactionId))
                } else {
                    results.append(.duplicate(existingTransactionId: try Self.existingTransactionId(connection, transaction)))
                }
            }
            return results
        }
    }

    private static let insertResolved = """
        INSERT INTO transactions (
            transaction_id, message_id, topic, producer_group, client_id, keys, tags,
            commit_log_offset, commit_log_size, created_at_ms, state, next_check_at_ms,
            resolved_at_ms, resolution_source, resolved_by, resolution_reason, first_check_delay_ms
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)
        ON CONFLICT (client_id, topic, message_id) DO NOTHING
        """

    /// (client id, topic, message id) of every transaction created at or after `sinceMs`: what
    /// the broker needs to recognise a retried half-send without asking the table each time.
    public func transactionKeys(createdSince sinceMs: Int64) async throws(TransactionStoreError)
        -> [(clientId: String, topic: String, messageId: String, createdAtMs: Int64)]
    {
        try await read("list recent transaction keys") { connection in
            try connection.query(
                """
                SELECT client_id, topic, message_id, created_at_ms FROM transactions
                WHERE created_at_ms >= ? ORDER BY created_at_ms
                """,
                [.integer(sinceMs)]
            ) { row in (row.string(at: 0), row.string(at: 1), row.string(at: 2), row.int64(at: 3)) }
        }
    }
}
