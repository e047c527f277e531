import SluiceTransactions

/// Where one change journal's follower stands, kept in the broker's SQLite file
/// (`journal_cursors`, migrations/0013): every record of the queue below the stored offset is
/// applied to the tables, so a restart replays only what came after it.
///
/// It lives in the same file as the rows it covers. SQLite's WAL commits in order, so a cursor
/// moved forward after the rows' commits never survives a crash without them; a cursor moved
/// back (a cut log tail) is written synced, before the log brings new records at those offsets.
struct JournalCursorTable: Sendable {
    let executor: SQLiteExecutor
    /// The journal's queue (its topic name): the row's key.
    let queue: String

    /// The stored cursor; nil when none is stored yet, or when it cannot be read (the queue is
    /// then replayed from its start, which is always correct, only slower).
    func load() async -> UInt64? {
        let queue = self.queue
        let stored = try? await executor.read { connection in
            try connection.queryFirst("SELECT next_offset FROM journal_cursors WHERE queue = ?", [.text(queue)]) { row in
                row.int64(at: 0)
            }
        }
        return stored.flatMap { $0 }.flatMap { $0 >= 0 ? UInt64($0) : nil }
    }

    /// Stores `next` (synced when it moves the cursor back).
    /// - Throws: `BrokerError` `.storageFailure` when the row cannot be written.
    func store(_ next: UInt64, synced: Bool) async throws(BrokerError) {
        let queue = self.queue
        do {
            _ = try await executor.write(synced: synced) { connection in
                try connection.run(
                    "INSERT INTO journal_cursors (queue, next_offset) VALUES (?, ?) "
                        + "ON CONFLICT (queue) DO UPDATE SET next_offset = excluded.next_offset",
                    [.text(queue), .integer(Int64(clamping: next))])
            }
        } catch {
            throw BrokerError(.storageFailure, "cannot store how far the \(queue) journal is applied: \(error)", cause: error)
        }
    }
}
