import SluiceTransactions
import Testing

@Suite("Migrator")
struct MigratorTests {
    private let first = Migration(version: 1, name: "first", sql: "CREATE TABLE a (x INTEGER);")
    private let second = Migration(
        version: 2, name: "second", sql: "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);")
    private let third = Migration(version: 3, name: "third", sql: "CREATE TABLE c (x INTEGER);")

    private func tables(_ connection: SQLiteConnection) throws -> [String] {
        try connection.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name") { $0.string(at: 0) }
    }

    @Test("a fresh database gets every migration, recorded with its time")
    func freshDatabase() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let migrator = Migrator(migrations: [first, second, third])
            #expect(try migrator.migrate(connection, appliedAtMs: 42) == [1, 2, 3])
            #expect(try tables(connection) == ["a", "b", "c", "schema_migrations"])
            let history = try migrator.appliedMigrations(connection)
            #expect(history.map(\.version) == [1, 2, 3])
            #expect(history.map(\.name) == ["first", "second", "third"])
            #expect(
                try connection.query("SELECT applied_at FROM schema_migrations") { $0.int64(at: 0) } == [42, 42, 42])
        }
    }

    @Test("the embedded migrations apply to a fresh database")
    func embeddedApply() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let migrator = Migrator()
            #expect(try migrator.migrate(connection, appliedAtMs: epochMs) == Migration.embedded.map(\.version))
            #expect(try tables(connection).contains("transactions"))
            #expect(try connection.queryFirst("PRAGMA foreign_key_check") { _ in true } == nil)
        }
    }

    @Test("re-opening an up-to-date database applies nothing")
    func reopenIsNoOp() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let migrator = Migrator(migrations: [first, second])
            do {
                let connection = try SQLiteConnection(path: path)
                try migrator.migrate(connection, appliedAtMs: 1)
                try connection.close()
            }
            let connection = try SQLiteConnection(path: path)
            defer { try? connection.close() }
            #expect(try migrator.migrate(connection, appliedAtMs: 2) == [])
            #expect(try connection.query("SELECT applied_at FROM schema_migrations") { $0.int64(at: 0) } == [1, 1])
            // A newer binary adds only what is new.
            #expect(try Migrator(migrations: [first, second, third]).migrate(connection, appliedAtMs: 3) == [3])
        }
    }

    @Test("a failing migration rolls back entirely and leaves the earlier ones applied")
    func failureRollsBack() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let broken = Migration(
                version: 3, name: "broken", sql: "CREATE TABLE c (x INTEGER); INSERT INTO missing VALUES (1);")
            let error = try #require(throws: MigrationError.self) {
                try Migrator(migrations: [first, second, broken]).migrate(connection, appliedAtMs: 1)
            }
            #expect(error.code == .migrationFailed)
            #expect(error.version == 3)
            #expect(error.message.contains("broken"))
            #expect((error.cause as? SQLiteError)?.code == .error)
            #expect(!connection.isInTransaction)
            #expect(try tables(connection) == ["a", "b", "schema_migrations"])
            #expect(try Migrator(migrations: [first, second]).appliedMigrations(connection).map(\.version) == [1, 2])
        }
    }

    @Test("a database newer than the binary is refused and left untouched")
    func tooNewIsRefused() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            try Migrator(migrations: [first, second, third]).migrate(connection, appliedAtMs: 1)
            let error = try #require(throws: MigrationError.self) {
                try Migrator(migrations: [first, second]).migrate(connection, appliedAtMs: 2)
            }
            #expect(error.code == .schemaTooNew)
            #expect(error.version == 3)
            #expect(error.message.contains("version 3"))
            #expect(error.message.contains("up to 2"))
            #expect(!connection.isInTransaction)
            #expect(try tables(connection) == ["a", "b", "c", "schema_migrations"])
        }
    }

    @Test("a history that differs from the binary's migrations is refused")
    func historyMismatch() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            try Migrator(migrations: [first]).migrate(connection, appliedAtMs: 1)
            let renamed = Migration(version: 1, name: "renamed", sql: first.sql)
            let error = try #require(throws: MigrationError.self) {
                try Migrator(migrations: [renamed, second]).migrate(connection, appliedAtMs: 2)
            }
            #expect(error.code == .historyMismatch)
            #expect(try tables(connection) == ["a", "schema_migrations"])
        }
    }

    @Test("versions out of order are rejected before anything runs")
    func invalidList() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory + "/db.sqlite")
            defer { try? connection.close() }
            let error = try #require(throws: MigrationError.self) {
                try Migrator(migrations: [second, first]).migrate(connection, appliedAtMs: 1)
            }
            #expect(error.code == .invalidMigrations)
            #expect(try tables(connection) == [])
        }
    }

    @Test("the store refuses a database written by a newer Sluice with schemaTooNew")
    func storeRefusesTooNew() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let future = Migration(
                version: Migration.embedded.count + 1, name: "future", sql: "CREATE TABLE future (x INTEGER);")
            let newer = try await TransactionStateStore.open(
                path: path, configuration: TransactionStoreConfiguration(migrations: Migration.embedded + [future]),
                now: epochMs)
            try await newer.close()
            let error = try await #require(throws: TransactionStoreError.self) {
                try await TransactionStateStore.open(path: path, now: epochMs)
            }
            #expect(error.code == .schemaTooNew)
            #expect(error.message.contains("newer Sluice"))
        }
    }
}
