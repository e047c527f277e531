import Foundation
import SluiceTransactions
import Testing

@Suite("SQLiteExecutor")
struct SQLiteExecutorTests {
    private func withExecutor<T>(
        maximumWritesPerTransaction: Int = 512,
        _ body: (SQLiteExecutor) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory in
            let executor = try await SQLiteExecutor.open(
                path: directory + "/db.sqlite",
                configuration: SQLiteExecutorConfiguration(maximumWritesPerTransaction: maximumWritesPerTransaction))
            try await executor.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let result = try await body(executor)
            try await executor.close()
            return result
        }
    }

    private func rowCount(_ executor: SQLiteExecutor) async throws -> Int64 {
        try await executor.read { try $0.queryFirst("SELECT count(*) FROM t") { $0.int64(at: 0) } ?? 0 }
    }

    @Test("runs bodies on its own thread, never on the cooperative pool")
    func ownThread() async throws {
        try await withExecutor { executor in
            let (name, owns) = try await executor.read { connection in
                (Thread.current.name, connection.isOnOwningThread)
            }
            #expect(name == "sluice-sqlite")
            #expect(owns)
        }
    }

    @Test("a write commits and a read sees it")
    func writeThenRead() async throws {
        try await withExecutor { executor in
            let changed = try await executor.write { try $0.run("INSERT INTO t (v) VALUES (1)") }
            #expect(changed == 1)
            #expect(try await rowCount(executor) == 1)
        }
    }

    @Test("a read cannot write")
    func readIsReadOnly() async throws {
        try await withExecutor { executor in
            let error = try await #require(throws: SQLiteError.self) {
                try await executor.read { try $0.run("INSERT INTO t (v) VALUES (1)") }
            }
            #expect(error.code.primary == .readOnly)
            #expect(try await rowCount(executor) == 0)
        }
    }

    @Test("1,000 concurrent writes all land, in far fewer SQLite transactions than writes")
    func groupCommit() async throws {
        try await withExecutor(maximumWritesPerTransaction: 2_000) { executor in
            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            let transactionsBefore = executor.committedTransactionCount
            try await withThrowingTaskGroup(of: Int.self) { group in
                for value in 0..<1_000 {
                    group.addTask {
                        try await executor.write {
                            try $0.run("INSERT INTO t (v) VALUES (?)", [.integer(Int64(value))])
                        }
                    }
                }
                await waitUntilQueued(executor, count: 1_000)
                gate.release()
                for try await changed in group {
                    #expect(changed == 1)
                }
            }
            try await held.value
            #expect(try await rowCount(executor) == 1_000)
            #expect(
                try await executor.read { try $0.queryFirst("SELECT count(DISTINCT v) FROM t") { $0.int64(at: 0) } }
                    == 1_000)
            // One transaction for the gate, one for the 1,000 writes queued behind it.
            #expect(executor.committedTransactionCount - transactionsBefore == 2)
        }
    }

    @Test("the batch cap splits queued writes into several transactions")
    func batchCap() async throws {
        try await withExecutor(maximumWritesPerTransaction: 100) { executor in
            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            let transactionsBefore = executor.committedTransactionCount
            try await withThrowingTaskGroup(of: Int.self) { group in
                for value in 0..<250 {
                    group.addTask {
                        try await executor.write {
                            try $0.run("INSERT INTO t (v) VALUES (?)", [.integer(Int64(value))])
                        }
                    }
                }
                await waitUntilQueued(executor, count: 250)
                gate.release()
                try await group.waitForAll()
            }
            try await held.value
            #expect(try await rowCount(executor) == 250)
            // The gate, then 100 + 100 + 50.
            #expect(executor.committedTransactionCount - transactionsBefore == 4)
        }
    }

    @Test("a failing write rolls back only itself; its neighbours in the batch commit")
    func failingWriteKeepsNeighbours() async throws {
        try await withExecutor { executor in
            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            let transactionsBefore = executor.committedTransactionCount
            let first = Task { try await executor.write { try $0.run("INSERT INTO t (v) VALUES (1)") } }
            let failing = Task {
                try await executor.write { connection -> Int in
                    try connection.run("INSERT INTO t (v) VALUES (2)")
                    throw TestFailure(label: "second")
                }
            }
            let constraint = Task { try await executor.write { try $0.run("INSERT INTO t (v) VALUES (NULL)") } }
            let last = Task { try await executor.write { try $0.run("INSERT INTO t (v) VALUES (4)") } }
            await waitUntilQueued(executor, count: 4)
            gate.release()
            #expect(try await first.value == 1)
            await #expect(throws: TestFailure(label: "second")) { try await failing.value }
            let error = try await #require(throws: SQLiteError.self) { try await constraint.value }
            #expect(error.code == .constraintNotNull)
            #expect(try await last.value == 1)
            try await held.value
            let values = try await executor.read { try $0.query("SELECT v FROM t ORDER BY v") { $0.int64(at: 0) } }
            #expect(values == [1, 4])
            #expect(executor.committedTransactionCount - transactionsBefore == 2)
        }
    }

    @Test("an exclusive body manages its own transaction")
    func exclusive() async throws {
        try await withExecutor { executor in
            try await executor.exclusive { connection in
                try connection.execute("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES (7); COMMIT")
            }
            #expect(try await rowCount(executor) == 1)
            let error = try await #require(throws: SQLiteError.self) {
                try await executor.exclusive { try $0.execute("BEGIN; INSERT INTO t (v) VALUES (8)") }
            }
            #expect(error.code == .misuse)
            #expect(try await rowCount(executor) == 1)
        }
    }

    @Test("close drains queued writes, then refuses new work")
    func closeDrains() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let executor = try await SQLiteExecutor.open(path: path)
            try await executor.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            let writes = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for value in 0..<50 {
                        group.addTask {
                            try await executor.write {
                                try $0.run("INSERT INTO t (v) VALUES (?)", [.integer(Int64(value))])
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            await waitUntilQueued(executor, count: 50)
            let closed = Task { try await executor.close() }
            await waitUntilQueued(executor, count: 51)
            gate.release()
            try await closed.value
            try await writes.value
            try await held.value
            let error = try await #require(throws: SQLiteExecutorError.self) { try await executor.read { _ in 1 } }
            #expect(error.code == .closed)
            try await executor.close()

            let reopened = try await SQLiteExecutor.open(path: path)
            #expect(try await reopened.read { try $0.queryFirst("SELECT count(*) FROM t") { $0.int64(at: 0) } } == 50)
            try await reopened.close()
        }
    }

    @Test("opening an unusable path fails with the SQLite error")
    func openFailure() async throws {
        try await withTemporaryDirectory { directory in
            let error = try await #require(throws: SQLiteError.self) {
                try await SQLiteExecutor.open(path: directory + "/missing-dir/db.sqlite")
            }
            #expect(error.code.primary == .cannotOpen)
        }
    }
}
