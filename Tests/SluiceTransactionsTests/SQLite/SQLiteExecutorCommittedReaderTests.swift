import Foundation
import Logging
import SluiceTransactions
import Testing

/// `readCommitted` on a connection of its own: counts and listings neither wait behind the
/// writer's queue nor hold it up.
@Suite("SQLiteExecutor committed-state reader")
struct SQLiteExecutorCommittedReaderTests {
    private func count(_ connection: SQLiteConnection) throws -> Int64 {
        try connection.queryFirst("SELECT count(*) FROM t") { $0.int64(at: 0) } ?? 0
    }

    @Test("with a reader, readCommitted answers while the writer thread is held, with what was committed")
    func answersWhileWriterHeld() async throws {
        try await withTemporaryDirectory { directory in
            let executor = try await SQLiteExecutor.open(
                path: directory + "/db.sqlite", configuration: SQLiteExecutorConfiguration(committedReader: true))
            try await executor.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            _ = try await executor.write { try $0.run("INSERT INTO t (v) VALUES (1)") }

            let gate = ExecutorGate()
            let held = await gate.hold(executor)
            let queued = Task { try await executor.write { try $0.run("INSERT INTO t (v) VALUES (2)") } }
            await waitUntilQueued(executor, count: 1)
            // The writer thread is blocked and a write waits behind it: a plain read would wait
            // too; the committed-state read answers now, without the queued row.
            let (seen, thread) = try await executor.readCommitted { connection in
                (try count(connection), Thread.current.name)
            }
            #expect(seen == 1)
            #expect(thread == "sluice-sql-read")
            gate.release()
            try await held.value
            #expect(try await queued.value == 1)
            // Committed now: the next committed-state read sees it.
            #expect(try await executor.readCommitted { try count($0) } == 2)
            try await executor.close()
        }
    }

    @Test("a committed-state read cannot write")
    func readerIsReadOnly() async throws {
        try await withTemporaryDirectory { directory in
            let executor = try await SQLiteExecutor.open(
                path: directory + "/db.sqlite", configuration: SQLiteExecutorConfiguration(committedReader: true))
            try await executor.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let error = try await #require(throws: SQLiteError.self) {
                try await executor.readCommitted { try $0.run("INSERT INTO t (v) VALUES (1)") }
            }
            #expect(error.code.primary == .readOnly)
            try await executor.close()
        }
    }

    @Test("without a reader, readCommitted is a read on the writer's thread")
    func fallsBackToRead() async throws {
        try await withTemporaryDirectory { directory in
            let executor = try await SQLiteExecutor.open(path: directory + "/db.sqlite")
            try await executor.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            #expect(try await executor.readCommitted { _ in Thread.current.name } == "sluice-sqlite")
            try await executor.close()
        }
    }

    @Test("owners share the reader; it closes with the last owner")
    func readerClosesWithLastOwner() async throws {
        try await withTemporaryDirectory { directory in
            let first = try await SQLiteExecutor.open(
                path: directory + "/db.sqlite", configuration: SQLiteExecutorConfiguration(committedReader: true))
            try await first.write { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL)") }
            let second = first.share()
            try await first.close()
            #expect(try await second.readCommitted { _ in Thread.current.name } == "sluice-sql-read")
            try await second.close()
            let error = try await #require(throws: SQLiteExecutorError.self) {
                try await second.readCommitted { try count($0) }
            }
            #expect(error.code == .closed)
        }
    }
}
