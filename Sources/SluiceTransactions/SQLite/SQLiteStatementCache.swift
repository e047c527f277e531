import CSQLite

/// Prepared statements keyed by their SQL text.
///
/// Statements are prepared with `SQLITE_PREPARE_PERSISTENT`, SQLite's hint that they will be
/// reused many times (<https://www.sqlite.org/c3ref/c_prepare_normalize.html>). The cache is
/// finalized before its connection closes: `sqlite3_close` refuses to close a handle with live
/// statements.
struct SQLiteStatementCache {
    private var statements: [String: SQLiteStatement] = [:]

    var count: Int { statements.count }

    /// The cached statement for `sql`, prepared on first use, reset with bindings cleared.
    mutating func statement(
        for sql: String,
        database: OpaquePointer,
        owner: OwningThread
    ) throws(SQLiteError) -> SQLiteStatement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        let statement = try SQLiteStatement(
            database: database, sql: sql, flags: UInt32(SQLITE_PREPARE_PERSISTENT), owner: owner)
        statements[sql] = statement
        return statement
    }

    /// Finalizes every statement and empties the cache.
    mutating func finalizeAll() {
        for statement in statements.values {
            statement.finalize()
        }
        statements.removeAll()
    }
}
