/// Applies pending migrations in version order and records them in `schema_migrations`.
///
/// Each migration and its `schema_migrations` row commit together in one `BEGIN IMMEDIATE`
/// transaction, so a failed migration leaves no trace and the ones before it stay applied. The
/// history is re-read inside every transaction, so two processes migrating the same file at once
/// cannot apply a migration twice. A database whose history is ahead of this binary is refused
/// with `MigrationError.Code.schemaTooNew` and left untouched.
public struct Migrator: Sendable {
    /// The known migrations, in increasing version order.
    public let migrations: [Migration]

    public init(migrations: [Migration] = Migration.embedded) {
        self.migrations = migrations
    }

    /// The highest version this migrator knows (0 when it knows none).
    public var latestVersion: Int {
        migrations.last?.version ?? 0
    }

    /// Applies every pending migration and returns the versions applied (empty when up to date).
    ///
    /// - Parameter appliedAtMs: the time recorded in `schema_migrations.applied_at`, in
    ///   milliseconds since the Unix epoch.
    /// - Throws: `MigrationError` with `.schemaTooNew`, `.historyMismatch`, `.migrationFailed` or
    ///   `.invalidMigrations`.
    @discardableResult
    public func migrate(_ connection: SQLiteConnection, appliedAtMs: Int64) throws(MigrationError) -> [Int] {
        try validate()
        do {
            try connection.execute(Self.createHistoryTable)
        } catch {
            throw MigrationError(code: .migrationFailed, message: "cannot create schema_migrations", cause: error)
        }
        var applied: [Int] = []
        while let migration = try applyNext(connection, appliedAtMs: appliedAtMs) {
            applied.append(migration.version)
        }
        return applied
    }

    /// The migrations recorded in the database, in version order.
    ///
    /// - Throws: `MigrationError` with `.migrationFailed` when the history cannot be read.
    public func appliedMigrations(
        _ connection: SQLiteConnection
    ) throws(MigrationError) -> [(version: Int, name: String)] {
        do {
            let exists =
                try connection.queryFirst(
                    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'"
                ) { _ in true } ?? false
            guard exists else { return [] }
            return try connection.query("SELECT version, name FROM schema_migrations ORDER BY version") { row in
                (version: Int(row.int64(at: 0)), name: row.string(at: 1))
            }
        } catch {
            throw MigrationError(code: .migrationFailed, message: "cannot read schema_migrations", cause: error)
        }
    }

    /// Applies the first pending migration in its own transaction; nil when none is pending.
    private func applyNext(_ connection: SQLiteConnection, appliedAtMs: Int64) throws(MigrationError) -> Migration? {
        do {
            try connection.execute("BEGIN IMMEDIATE")
        } catch {
            throw MigrationError(code: .migrationFailed, message: "cannot begin a migration transaction", cause: error)
        }
        do throws(MigrationError) {
            let history = try appliedMigrations(connection)
            try check(history)
            guard history.count < migrations.count else {
                do {
                    try connection.execute("COMMIT")
                } catch {
                    throw MigrationError(
                        code: .migrationFailed, message: "cannot end a migration transaction", cause: error)
                }
                return nil
            }
            let migration = migrations[history.count]
            do {
                try connection.execute(migration.sql)
                try connection.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.integer(Int64(migration.version)), .text(migration.name), .integer(appliedAtMs)])
                try connection.execute("COMMIT")
            } catch {
                throw MigrationError(
                    code: .migrationFailed,
                    message: "migration \(migration.version) (\(migration.name)) failed and was rolled back",
                    version: migration.version, cause: error)
            }
            return migration
        } catch {
            if connection.isInTransaction {
                _ = try? connection.execute("ROLLBACK")
            }
            throw error
        }
    }

    /// Checks that the applied history is a prefix of the known migrations.
    private func check(_ history: [(version: Int, name: String)]) throws(MigrationError) {
        if let newest = history.last, newest.version > latestVersion {
            throw MigrationError(
                code: .schemaTooNew,
                message: "the database schema is at version \(newest.version) (\(newest.name)), but this Sluice "
                    + "knows versions up to \(latestVersion); it was written by a newer Sluice. "
                    + "Run that version, or open another database.",
                version: newest.version)
        }
        for (index, entry) in history.enumerated() {
            let known = migrations[index]
            guard entry.version == known.version, entry.name == known.name else {
                throw MigrationError(
                    code: .historyMismatch,
                    message: "the database records migration \(entry.version) (\(entry.name)) where this Sluice "
                        + "expects \(known.version) (\(known.name))",
                    version: entry.version)
            }
        }
    }

    private func validate() throws(MigrationError) {
        var previous = 0
        for migration in migrations {
            guard migration.version > previous else {
                throw MigrationError(
                    code: .invalidMigrations,
                    message: "migration versions must be positive and strictly increasing; "
                        + "\(migration.version) (\(migration.name)) follows \(previous)",
                    version: migration.version)
            }
            previous = migration.version
        }
    }

    /// `applied_at` is milliseconds since the Unix epoch.
    private static let createHistoryTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        ) STRICT
        """
}
