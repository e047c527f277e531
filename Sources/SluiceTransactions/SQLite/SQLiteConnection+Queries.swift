/// Convenience on top of the statement cache: run a statement, read rows.
extension SQLiteConnection {
    /// Runs a statement to completion with `bindings` and returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> Int {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {}
        return changes
    }

    /// Runs a query and maps every row with `row`.
    public func query<T>(
        _ sql: String,
        _ bindings: [SQLiteValue] = [],
        row: (SQLiteStatement) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> [T] {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        var rows: [T] = []
        while try statement.step() {
            rows.append(try row(statement))
        }
        return rows
    }

    /// Runs a query and maps its first row, or returns nil when there is none.
    public func queryFirst<T>(
        _ sql: String,
        _ bindings: [SQLiteValue] = [],
        row: (SQLiteStatement) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> T? {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        guard try statement.step() else { return nil }
        return try row(statement)
    }
}
