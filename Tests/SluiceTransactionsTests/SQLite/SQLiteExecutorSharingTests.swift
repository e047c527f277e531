import Foundation
import Logging
import SluiceTransactions
import Testing

/// One writer per database file: stores in one file share an executor (`share()`).
@Suite("SQLiteExecutor sharing")
struct SQLiteExecutorSharingTests {
    private func insert(_ executor: SQLiteExecutor, _ value: Int64) async throws {
        _ = try await executor.write { try $0.run("INSERT INTO t (v) VALUES (?)", [.integer(value)]) }
    }

    private func count(_ executor: SQLiteExecutor) async throws -> Int64 {
        try await executor.read { try $0.queryFirst("SELECT count(*) FROM t") { $0.int64(at: 0) } ?? 0 }
    }

    @Test("writes of two owners queued together commit in one SQLite transaction, on one thread")
    func ownersGroupCommitTogether() async throws {
        try await withTemporaryDirectory { directory in
            let first = try await SQLiteExecutor.open(path: directory + "/db.sqlite")
            try await first.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let second = first.share()
            #expect(second.path == first.path)
            let threads = try await [first.read { _ in Thread.current.name }, second.read { _ in Thread.current.name }]
            #expect(threads == ["sluice-sqlite", "sluice-sqlite"])

            let gate = ExecutorGate()
            let held = await gate.hold(first)
            let before = first.committedTransactionCount
            try await withThrowingTaskGroup(of: Void.self) { group in
                for value in 0..<100 {
                    let owner = value.isMultiple(of: 2) ? first : second
                    group.addTask { try await insert(owner, Int64(value)) }
                }
                await waitUntilQueued(first, count: 100)
                gate.release()
                try await group.waitForAll()
            }
            try await held.value
            // The gate's transaction, then one for the 100 writes of both owners.
            #expect(first.committedTransactionCount - before == 2)
            #expect(second.committedTransactionCount == first.committedTransactionCount)
            #expect(try await count(second) == 100)
            try await second.close()
            try await first.close()
        }
    }

    @Test("the connection stays open until its last owner closes; closing one owner twice frees nothing more")
    func lastOwnerCloses() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let first = try await SQLiteExecutor.open(path: path)
            try await first.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let second = first.share()
            let third = second.share()

            try await first.close()
            try await first.close()
            // Two owners left: the double close above gave back one use, not two.
            try await insert(second, 1)
            try await insert(third, 2)
            try await second.close()
            #expect(try await count(third) == 2)

            try await third.close()
            let error = try await #require(throws: SQLiteExecutorError.self) { try await insert(third, 3) }
            #expect(error.code == .closed)
            let alsoClosed = try await #require(throws: SQLiteExecutorError.self) { try await insert(first, 3) }
            #expect(alsoClosed.code == .closed)

            let reopened = try await SQLiteExecutor.open(path: path)
            #expect(try await count(reopened) == 2)
            try await reopened.close()
        }
    }

    @Test("an owner dropped without closing gives its use back")
    func droppedOwnerReleases() async throws {
        try await withTemporaryDirectory { directory in
            let first = try await SQLiteExecutor.open(path: directory + "/db.sqlite")
            try await first.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            do {
                let dropped = first.share()
                try await insert(dropped, 1)
            }
            try await insert(first, 2)
            try await first.close()
            let error = try await #require(throws: SQLiteExecutorError.self) { try await insert(first, 3) }
            #expect(error.code == .closed)
        }
    }

    @Test("open(sharing:) shares the given executor and ignores the configuration; nil opens a new one")
    func openSharing() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let own = try await SQLiteExecutor.open(path: path)
            try await own.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let shared = try await SQLiteExecutor.open(
                path: path, configuration: SQLiteExecutorConfiguration(threadName: "sqlite-other"),
                logger: Logger(label: "test"), sharing: own)
            #expect(try await shared.read { _ in Thread.current.name } == "sluice-sqlite")
            let separate = try await SQLiteExecutor.open(
                path: path, configuration: SQLiteExecutorConfiguration(threadName: "sqlite-other"),
                logger: Logger(label: "test"), sharing: nil)
            #expect(try await separate.read { _ in Thread.current.name } == "sqlite-other")
            try await separate.close()
            try await shared.close()
            try await own.close()
        }
    }
}
