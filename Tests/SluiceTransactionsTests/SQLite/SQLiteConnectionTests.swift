import Foundation
import SluiceTransactions
import Testing

@Suite("SQLiteConnection")
struct SQLiteConnectionTests {
    @Test(
        "opens in WAL mode with foreign keys on and the requested synchronous level",
        arguments: SQLiteSynchronousMode.allCases)
    func configuresOnOpen(mode: SQLiteSynchronousMode) throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(
                path: directory + "/db.sqlite", options: SQLiteConnectionOptions(synchronous: mode))
            defer { try? connection.close() }
            #expect(try connection.queryFirst("PRAGMA journal_mode") { $0.string(at: 0) } == "wal")
            #expect(try connection.queryFirst("PRAGMA foreign_keys") { $0.int64(at: 0) } == 1)
            // PRAGMA synchronous reports 1 for NORMAL and 2 for FULL.
            #expect(try connection.queryFirst("PRAGMA synchronous") { $0.int64(at: 0) } == (mode == .normal ? 1 : 2))
        }
    }

    @Test(
        "binds and reads back every storage class",
        arguments: [
            SQLiteValue.integer(.min), .integer(.max), .integer(0), .real(-1.5), .real(.pi), .text(""),
            .text("naïve ✓ 日本"),
            .blob([]), .blob([0, 1, 2, 255]), .null,
        ])
    func roundTrips(value: SQLiteValue) throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            try connection.execute("CREATE TABLE t (v ANY) STRICT")
            try connection.run("INSERT INTO t (v) VALUES (?)", [value])
            let read = try connection.queryFirst("SELECT v FROM t") { $0.value(at: 0) }
            #expect(read == value)
        }
    }

    @Test("typed column readers and NULL handling")
    func typedReaders() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let statement = try connection.cachedStatement("SELECT ?, ?, ?, ?, ?")
            try statement.bind(Int64(42), at: 0)
            try statement.bind(2.5, at: 1)
            try statement.bind("text", at: 2)
            try statement.bind([7, 8] as [UInt8], at: 3)
            try statement.bindNull(at: 4)
            #expect(try statement.step())
            #expect(statement.columnCount == 5)
            #expect(statement.int64(at: 0) == 42)
            #expect(statement.double(at: 1) == 2.5)
            #expect(statement.string(at: 2) == "text")
            #expect(statement.blob(at: 3) == [7, 8])
            #expect(statement.isNull(at: 4))
            #expect(statement.optionalString(at: 4) == nil)
            #expect(statement.optionalInt64(at: 4) == nil)
            #expect(try !statement.step())
            statement.reset()
        }
    }

    @Test("prepares a repeated statement once and finalizes the cache on close")
    func cachesStatements() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            try connection.execute("CREATE TABLE t (v INTEGER)")
            let before = connection.cachedStatementCount
            for value in 0..<10 {
                try connection.run("INSERT INTO t (v) VALUES (?)", [.integer(Int64(value))])
            }
            #expect(connection.cachedStatementCount == before + 1)
            #expect(try connection.cachedStatement("SELECT 1") === connection.cachedStatement("SELECT 1"))
            try connection.close()
        }
    }

    @Test("an error carries the primary and extended code and the SQL, never the bound values")
    func errorsCarryCodesAndSQL() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            try connection.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
            try connection.run("INSERT INTO t (k) VALUES (?)", [.text("secret-key-value")])
            let error = try #require(throws: SQLiteError.self) {
                try connection.run("INSERT INTO t (k) VALUES (?)", [.text("secret-key-value")])
            }
            #expect(error.code == .constraintPrimaryKey)
            #expect(error.code.primary == .constraint)
            #expect(SQLiteResultCode.constraint ~= error.code)
            #expect(SQLiteResultCode.constraint ~= (error as any Error))
            #expect(!(SQLiteResultCode.constraintUnique ~= error.code))
            #expect(error.sql == "INSERT INTO t (k) VALUES (?)")
            #expect(!error.description.contains("secret-key-value"))
            #expect(error.description.contains("INSERT INTO t"))
        }
    }

    @Test("a syntax error is reported at prepare with the SQL text")
    func prepareErrors() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let error = try #require(throws: SQLiteError.self) { try connection.cachedStatement("SELEKT 1") }
            #expect(error.code == .error)
            #expect(error.sql == "SELEKT 1")
        }
    }

    @Test("binding the wrong number of values is refused")
    func bindCountMismatch() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let error = try #require(throws: SQLiteError.self) { try connection.run("SELECT ?, ?", [.integer(1)]) }
            #expect(error.code == .range)
        }
    }

    @Test("opening a file that is not a database fails with a typed error")
    func notADatabase() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/garbage.sqlite"
            try Data(repeating: 0x5A, count: 4_096).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: SQLiteError.self) { try SQLiteConnection(path: path) }
            #expect(error.code.primary == .notADatabase)
        }
    }

    @Test("opening a missing file without createIfMissing fails")
    func missingFile() throws {
        try withTemporaryDirectory { directory in
            let error = try #require(throws: SQLiteError.self) {
                try SQLiteConnection(
                    path: directory + "/absent.sqlite", options: SQLiteConnectionOptions(createIfMissing: false))
            }
            #expect(error.code.primary == .cannotOpen)
        }
    }

    @Test("using a connection off its thread stops the process")
    func offThreadUseTraps() async {
        await #expect(processExitsWith: .failure) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-exit-\(UUID().uuidString)")
                .path
            let connection = try SQLiteConnection(path: path)
            nonisolated(unsafe) let shared = connection
            let thread = Thread { _ = shared.changes }
            thread.start()
            DispatchSemaphore(value: 0).wait()
        }
    }
}
