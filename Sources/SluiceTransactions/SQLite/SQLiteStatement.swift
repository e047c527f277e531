import CSQLite

/// A prepared statement: bind parameters, step, read columns.
///
/// Parameter and column indexes are zero-based here (SQLite's bind indexes start at 1; the
/// conversion is done inside). A statement belongs to the connection that prepared it and is used
/// on that connection's thread only.
public final class SQLiteStatement {
    /// The SQL text, kept for error reports.
    public let sql: String
    private var handle: OpaquePointer?
    private let database: OpaquePointer
    private let owner: OwningThread

    init(database: OpaquePointer, sql: String, flags: UInt32, owner: OwningThread) throws(SQLiteError) {
        self.sql = sql
        self.database = database
        self.owner = owner
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(database, sql, -1, flags, &statement, nil)
        guard rc == SQLITE_OK else {
            sqlite3_finalize(statement)
            throw SQLiteError(handle: database, fallback: rc, sql: sql)
        }
        guard let statement else {
            throw SQLiteError(code: .misuse, message: "SQL text contains no statement", sql: sql)
        }
        handle = statement
    }

    deinit {
        // Statements are finalized explicitly (the cache does it before close); this is a safety net.
        sqlite3_finalize(handle)
    }

    private var live: OpaquePointer {
        owner.preconditionIsCurrent("SQLiteStatement")
        guard let handle else { preconditionFailure("SQLiteStatement used after finalize: \(sql)") }
        return handle
    }

    // MARK: binding

    /// Binds one value; `index` is zero-based.
    public func bind(_ value: SQLiteValue, at index: Int) throws(SQLiteError) {
        let statement = live
        let position = Int32(index + 1)
        let rc: Int32
        switch value {
        case .integer(let value):
            rc = sqlite3_bind_int64(statement, position, value)
        case .real(let value):
            rc = sqlite3_bind_double(statement, position, value)
        case .text(let value):
            rc = sqlite3_bind_text(statement, position, value, -1, Self.transient)
        case .blob(let value):
            if value.isEmpty {
                // An empty buffer has no base address, which SQLite would bind as NULL.
                rc = sqlite3_bind_zeroblob(statement, position, 0)
            } else {
                rc = value.withUnsafeBytes { bytes in
                    sqlite3_bind_blob(statement, position, bytes.baseAddress, Int32(bytes.count), Self.transient)
                }
            }
        case .null:
            rc = sqlite3_bind_null(statement, position)
        }
        guard rc == SQLITE_OK else { throw SQLiteError(handle: database, fallback: rc, sql: sql) }
    }

    /// Binds `values` to parameters 0..<values.count.
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(live))
        guard values.count == expected else {
            throw SQLiteError(
                code: .range, message: "statement has \(expected) parameters; \(values.count) values given", sql: sql)
        }
        for (index, value) in values.enumerated() {
            try bind(value, at: index)
        }
    }

    public func bind(_ value: Int64, at index: Int) throws(SQLiteError) { try bind(.integer(value), at: index) }
    public func bind(_ value: Double, at index: Int) throws(SQLiteError) { try bind(.real(value), at: index) }
    public func bind(_ value: String?, at index: Int) throws(SQLiteError) { try bind(.text(value), at: index) }
    public func bind(_ value: [UInt8], at index: Int) throws(SQLiteError) { try bind(.blob(value), at: index) }
    public func bindNull(at index: Int) throws(SQLiteError) { try bind(.null, at: index) }

    // MARK: stepping

    /// Advances to the next row: `true` when a row is available, `false` when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(live)
        switch rc {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            throw SQLiteError(handle: database, fallback: rc, sql: sql)
        }
    }

    /// Resets the statement so it can run again, and clears its bindings.
    ///
    /// Errors from the previous step are not reported again (`step` already threw them).
    public func reset() {
        let statement = live
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    /// Whether the statement leaves the database unchanged (`sqlite3_stmt_readonly`).
    public var isReadOnly: Bool {
        sqlite3_stmt_readonly(live) != 0
    }

    func finalize() {
        owner.preconditionIsCurrent("SQLiteStatement")
        sqlite3_finalize(handle)
        handle = nil
    }

    // MARK: columns (zero-based)

    public var columnCount: Int { Int(sqlite3_column_count(live)) }

    public func columnName(at index: Int) -> String {
        String(cString: sqlite3_column_name(live, Int32(index)))
    }

    public func isNull(at index: Int) -> Bool {
        sqlite3_column_type(live, Int32(index)) == SQLITE_NULL
    }

    public func int64(at index: Int) -> Int64 {
        sqlite3_column_int64(live, Int32(index))
    }

    public func optionalInt64(at index: Int) -> Int64? {
        isNull(at: index) ? nil : int64(at: index)
    }

    public func double(at index: Int) -> Double {
        sqlite3_column_double(live, Int32(index))
    }

    public func string(at index: Int) -> String {
        let statement = live
        guard let text = sqlite3_column_text(statement, Int32(index)) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func optionalString(at index: Int) -> String? {
        isNull(at: index) ? nil : string(at: index)
    }

    public func blob(at index: Int) -> [UInt8] {
        let statement = live
        guard let bytes = sqlite3_column_blob(statement, Int32(index)) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, Int32(index)))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// The column as a `SQLiteValue`, whatever its storage class.
    public func value(at index: Int) -> SQLiteValue {
        switch sqlite3_column_type(live, Int32(index)) {
        case SQLITE_INTEGER: .integer(int64(at: index))
        case SQLITE_FLOAT: .real(double(at: index))
        case SQLITE_TEXT: .text(string(at: index))
        case SQLITE_BLOB: .blob(blob(at: index))
        default: .null
        }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the bind call returns.
    /// The C macro `((sqlite3_destructor_type)-1)` does not import into Swift.
    private static var transient: sqlite3_destructor_type {
        unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    }
}

@available(*, unavailable, message: "a statement is used on its connection's thread only")
extension SQLiteStatement: Sendable {}
