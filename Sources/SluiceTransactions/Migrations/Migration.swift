/// One schema migration: a version, a name and the SQL that performs it.
///
/// Sluice's migrations are the files `migrations/NNNN_name.sql`, embedded in the binary by
/// `scripts/embed-migrations.sh` (see `EmbeddedMigrations`). They are append-only: a shipped
/// migration is never edited, a new file is added instead.
public struct Migration: Sendable, Hashable {
    /// Positive, strictly increasing across a migrator's list.
    public var version: Int
    public var name: String
    /// One or more SQL statements separated by semicolons.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The migrations embedded from `migrations/`.
    public static var embedded: [Migration] {
        EmbeddedMigrations.all.map { Migration(version: $0.version, name: $0.name, sql: $0.sql) }
    }
}
