extension TransactionStateStore {
    /// The columns a state change reads before deciding.
    struct CurrentState {
        var state: TransactionState
        var checkCount: Int64
        var checkOutstanding: Bool
    }

    static func currentState(_ connection: SQLiteConnection, _ transactionId: String) throws(SQLiteError)
        -> CurrentState?
    {
        try connection.queryFirst(
            "SELECT state, check_count, check_outstanding FROM transactions WHERE transaction_id = ?",
            [.text(transactionId)]
        ) { (row) throws(SQLiteError) in
            CurrentState(
                state: try TransactionRecord.decode(
                    TransactionState.self, row.string(at: 0), column: "state", sql: row.sql),
                checkCount: row.int64(at: 1),
                checkOutstanding: row.int64(at: 2) != 0)
        }
    }
}
