extension TransactionStateStore {
    /// Records a half message as prepared, with its first check scheduled at
    /// `createdAtMs + (firstCheckDelayMs ?? configuration.defaultFirstCheckDelayMs)`.
    ///
    /// Idempotent on (client id, topic, message id): a retried half-send returns the existing
    /// transaction id and writes nothing.
    ///
    /// - Throws: `TransactionStoreError` with `.invalidArgument` (empty id, negative offset,
    ///   non-positive size or delay), `.duplicateTransactionId` when `transactionId` already
    ///   names another message, `.storage`, `.closed`.
    public func recordPrepared(_ transaction: PreparedTransaction) async throws(TransactionStoreError)
        -> RecordPreparedResult
    {
        try Self.validate(transaction)
        let nextCheckAtMs = try nextCheckAt(transaction)
        return try await write("record a prepared transaction") { connection in
            try Self.insertPreparedRow(connection, transaction, nextCheckAtMs: nextCheckAtMs)
        }
    }

    /// When the checker first looks at `transaction`.
    public func nextCheckAt(_ transaction: PreparedTransaction) throws(TransactionStoreError) -> Int64 {
        let firstCheckDelayMs = transaction.firstCheckDelayMs ?? configuration.defaultFirstCheckDelayMs
        let (nextCheckAtMs, overflow) = transaction.createdAtMs.addingReportingOverflow(firstCheckDelayMs)
        guard !overflow else {
            throw TransactionStoreError(
                code: .invalidArgument, message: "createdAtMs + firstCheckDelayMs overflows",
                transactionId: transaction.transactionId)
        }
        return nextCheckAtMs
    }

    /// Inserts one prepared row inside the caller's write; a retried half-send finds the existing row.
    static func insertPreparedRow(
        _ connection: SQLiteConnection, _ transaction: PreparedTransaction, nextCheckAtMs: Int64
    ) throws -> RecordPreparedResult {
        do {
            try connection.run(
                insertPrepared,
                [
                    .text(transaction.transactionId), .text(transaction.messageId), .text(transaction.topic),
                    .text(transaction.producerGroup), .text(transaction.clientId), .text(transaction.keys),
                    .text(transaction.tags), .integer(transaction.commitLogOffset),
                    .integer(transaction.commitLogSize), .integer(transaction.createdAtMs),
                    .integer(nextCheckAtMs), .integer(transaction.firstCheckDelayMs),
                ])
        } catch {
            throw duplicateIdError(error, transaction)
        }
        if connection.changes == 1 {
            return .inserted(transactionId: transaction.transactionId)
        }
        return .duplicate(existingTransactionId: try existingTransactionId(connection, transaction))
    }

    /// A primary-key conflict says so by name; any other error passes through.
    static func duplicateIdError(_ error: any Error, _ transaction: PreparedTransaction) -> any Error {
        guard SQLiteResultCode.constraintPrimaryKey ~= error else { return error }
        return TransactionStoreError(
            code: .duplicateTransactionId,
            message: "transaction id \(transaction.transactionId) is already used by another message",
            transactionId: transaction.transactionId, cause: error)
    }

    /// The transaction that already holds `transaction`'s (client id, topic, message id).
    static func existingTransactionId(
        _ connection: SQLiteConnection, _ transaction: PreparedTransaction
    ) throws -> String {
        let existing = try connection.queryFirst(
            "SELECT transaction_id FROM transactions WHERE client_id = ? AND topic = ? AND message_id = ?",
            [.text(transaction.clientId), .text(transaction.topic), .text(transaction.messageId)]
        ) { row in row.string(at: 0) }
        guard let existing else {
            throw SQLiteError(code: .internal, message: "insert ignored but no conflicting row found")
        }
        return existing
    }

    private static let insertPrepared = """
        INSERT INTO transactions (
            transaction_id, message_id, topic, producer_group, client_id, keys, tags,
            commit_log_offset, commit_log_size, created_at_ms, state, next_check_at_ms, first_check_delay_ms
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'prepared', ?, ?)
        ON CONFLICT (client_id, topic, message_id) DO NOTHING
        """

    static func validate(_ transaction: PreparedTransaction) throws(TransactionStoreError) {
        func invalid(_ message: String) -> TransactionStoreError {
            TransactionStoreError(code: .invalidArgument, message: message, transactionId: transaction.transactionId)
        }
        for (field, value) in [
            ("transactionId", transaction.transactionId), ("messageId", transaction.messageId),
            ("topic", transaction.topic), ("clientId", transaction.clientId),
        ] where value.isEmpty {
            throw invalid("\(field) is empty")
        }
        guard transaction.commitLogOffset >= 0 else {
            throw invalid("commitLogOffset is \(transaction.commitLogOffset); it must be at least 0")
        }
        guard transaction.commitLogSize > 0 else {
            throw invalid("commitLogSize is \(transaction.commitLogSize); it must be positive")
        }
        if let delay = transaction.firstCheckDelayMs, delay < 0 {
            throw invalid("firstCheckDelayMs is \(delay); it must be at least 0")
        }
    }
}
