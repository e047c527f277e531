import Foundation

extension SQLiteConnection {
    /// Writes a consistent copy of the database at `source` to `destination` (`VACUUM INTO`
    /// over a read-only connection of its own: one read transaction, so the copy is the database
    /// as of one moment while writers go on under WAL). Blocking: runs on a thread of its own,
    /// never on the cooperative pool.
    /// - Throws: `SQLiteError` when the source cannot be opened or the copy cannot be written
    ///   (an existing `destination` is refused by SQLite).
    public static func copyDatabase(at source: String, to destination: String) async throws(SQLiteError) {
        let result: Result<Void, SQLiteError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(SQLiteError) {
                    let connection = try SQLiteConnection(path: source, options: SQLiteConnectionOptions(createIfMissing: false, readOnly: true))
                    defer { try? connection.close() }
                    try connection.execute("VACUUM INTO '\(destination.replacingOccurrences(of: "'", with: "''"))'")
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "sluice-sqlite-copy"
            thread.start()
        }
        try result.get()
    }
}
