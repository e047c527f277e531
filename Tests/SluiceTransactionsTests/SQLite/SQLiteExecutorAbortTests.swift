import SluiceTransactions
import Testing

@Suite("SQLiteExecutor when SQLite aborts a batch")
struct SQLiteExecutorAbortTests {
    @Test("when SQLite rolls back a whole batch (disk full), no write is reported committed that was not")
    func abortedBatchNeverReportsFalseSuccess() async throws {
        try await withTemporaryDirectory { directory in
            let executor = try await SQLiteExecutor.open(path: directory + "/db.sqlite")
            try await executor.write { try $0.execute("CREATE TABLE b (label INTEGER NOT NULL, v BLOB NOT NULL)") }
            // A database capped a few pages above its size: a 1 MB blob fails with SQLITE_FULL,
            // which makes SQLite roll back the whole transaction, not only the statement.
            try await executor.exclusive { connection in
                let pages = try connection.queryFirst("PRAGMA page_count") { $0.int64(at: 0) } ?? 0
                _ = try connection.query("PRAGMA max_page_count = \(pages + 4)") { $0.int64(at: 0) }
            }
            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            var tasks: [Task<Int, any Error>] = []
            for label in 0..<6 {
                tasks.append(
                    Task {
                        try await executor.write { connection in
                            let size = label == 3 ? 1_000_000 : 10
                            return try connection.run(
                                "INSERT INTO b (label, v) VALUES (?, zeroblob(?))",
                                [.integer(Int64(label)), .integer(Int64(size))])
                        }
                    })
                // One at a time, so the queue order is the label order.
                await waitUntilQueued(executor, count: label + 1)
            }
            gate.release()
            try await held.value

            var succeeded: Set<Int64> = []
            var rolledBackByNeighbour = 0
            for (label, task) in tasks.enumerated() {
                do {
                    _ = try await task.value
                    succeeded.insert(Int64(label))
                } catch let error as SQLiteError {
                    #expect(label == 3)
                    #expect(error.code.primary == .full)
                } catch let error as SQLiteExecutorError {
                    #expect(error.code == .rolledBackByNeighbour)
                    rolledBackByNeighbour += 1
                }
            }
            let stored = try await executor.read { try $0.query("SELECT label FROM b") { $0.int64(at: 0) } }
            #expect(Set(stored) == succeeded)
            #expect(stored.count == succeeded.count)
            // 0, 1 and 2 ran before the failure in the same transaction and were rolled back with it;
            // 4 and 5 ran in a fresh transaction.
            #expect(succeeded == [4, 5])
            #expect(rolledBackByNeighbour == 3)
            try await executor.close()
        }
    }
}
