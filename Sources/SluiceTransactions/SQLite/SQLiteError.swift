import CSQLite

/// An error reported by SQLite.
///
/// It carries the primary and extended result code, SQLite's message and the SQL text of the
/// statement that failed. Bound values are never included: they may hold message keys or other
/// client data that must not leak into logs.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code; `code.primary` is the primary code.
    public var code: SQLiteResultCode
    /// SQLite's message (`sqlite3_errmsg`) or a description supplied by Sluice.
    public var message: String
    /// The SQL text being prepared or run, when there was one.
    public var sql: String?

    public init(code: SQLiteResultCode, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// Builds the error for the most recent failure on `handle`.
    init(handle: OpaquePointer?, fallback: Int32, sql: String?) {
        if let handle {
            let extended = sqlite3_extended_errcode(handle)
            // A wrapper may report a failure that did not originate in the last API call
            // (sqlite3_errcode is then SQLITE_OK); trust the code we were handed in that case.
            let code = (extended & 0xFF) == (fallback & 0xFF) ? extended : fallback
            self.init(
                code: SQLiteResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
        } else {
            self.init(
                code: SQLiteResultCode(rawValue: fallback), message: String(cString: sqlite3_errstr(fallback)), sql: sql
            )
        }
    }

    public var description: String {
        var text = "SQLite error \(code.rawValue) (primary \(code.primary.rawValue)): \(message)"
        if let sql {
            text += " [SQL: \(sql)]"
        }
        return text
    }
}
