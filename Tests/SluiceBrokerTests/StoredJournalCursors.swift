import SluiceTransactions

/// The change journals' stored cursors (`journal_cursors`) in a test's database.
enum StoredJournalCursors {
    /// Forgets every stored cursor: the next store opened there replays its queue from the start.
    static func forget(in path: String) async throws {
        let executor = try await SQLiteExecutor.open(path: path)
        _ = try await executor.write { connection in try connection.run("DELETE FROM journal_cursors") }
        try await executor.close()
    }

    /// The stored cursor of `queue`, or nil.
    static func cursor(of queue: String, in path: String) async throws -> Int64? {
        let executor = try await SQLiteExecutor.open(path: path)
        let stored = try await executor.read { connection in
            try connection.queryFirst("SELECT next_offset FROM journal_cursors WHERE queue = ?", [.text(queue)]) { $0.int64(at: 0) }
        }
        try await executor.close()
        return stored
    }
}
