/// The `PRAGMA synchronous` setting of a connection.
///
/// In WAL mode, `normal` syncs the WAL only at checkpoints: a committed transaction survives an
/// application crash but may roll back after a power loss or OS crash. `full` syncs the WAL on
/// every commit, so a commit is durable once it returns. See
/// <https://www.sqlite.org/pragma.html#pragma_synchronous> and <https://www.sqlite.org/wal.html>.
public enum SQLiteSynchronousMode: String, Sendable, CaseIterable {
    case normal = "NORMAL"
    case full = "FULL"
}
