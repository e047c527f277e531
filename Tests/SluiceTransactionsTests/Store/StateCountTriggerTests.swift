import SluiceTransactions
import Testing

/// `countsByState` reads the counts migration 0014's triggers keep; they must equal a count of
/// the table after every kind of change.
@Suite("TransactionStateStore state counts kept by triggers")
struct StateCountTriggerTests {
    /// The table counted the slow way, on a connection of the test's own.
    private func fullCount(_ path: String) async throws -> [TransactionState: Int] {
        let executor = try await SQLiteExecutor.open(path: path)
        let rows = try await executor.read { connection in
            try connection.query("SELECT state, count(*) FROM transactions GROUP BY state") {
                (row) throws(SQLiteError) in (row.string(at: 0), Int(row.int64(at: 1)))
            }
        }
        try await executor.close()
        var counts = Dictionary(uniqueKeysWithValues: TransactionState.allCases.map { ($0, 0) })
        for (state, count) in rows { counts[try #require(TransactionState(rawValue: state))] = count }
        return counts
    }

    @Test("inserts, resolutions, parking, a cut tail's deletes and reopened rows keep the counts equal to the table")
    func countsFollowEveryChange() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let store = try await TransactionStateStore.open(path: path, now: epochMs)
            for number in 0..<10 {
                _ = try await store.recordPrepared(prepared(number))
            }
            // A retried insert of the same message changes nothing.
            _ = try await store.recordPrepared(prepared(0))
            for number in 0..<4 {
                _ = try await store.resolve(
                    transactionId: "txn-\(number)", resolution: number < 2 ? .commit : .rollback, source: .producer,
                    actor: nil, at: epochMs)
            }
            _ = try await store.park(transactionId: "txn-4", at: epochMs)
            #expect(try await store.countsByState() == [.prepared: 5, .committed: 2, .rolledBack: 2, .parked: 1])
            #expect(try await store.countsByState() == (try await fullCount(path)))

            // Cut the log tail at txn-7's half: txn-7…9 go, txn-1's commit is undone (prepared again).
            let cut = UInt64(prepared(7).commitLogOffset)
            _ = try await store.forgetLogTail(from: cut, reopening: ["txn-1"], eventOffset: 0, at: epochMs)
            let afterCut = try await store.countsByState()
            #expect(afterCut == (try await fullCount(path)))
            #expect(afterCut.values.reduce(0, +) == 7)
            try await store.close()

            // Counts survive a reopen (they are rows, not memory).
            let reopened = try await TransactionStateStore.open(path: path, now: epochMs)
            #expect(try await reopened.countsByState() == afterCut)
            try await reopened.close()
        }
    }

    @Test("the migration counts the rows a table already holds")
    func migrationCountsExistingRows() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            // Migrate to 0013 only, fill the table, then open with every migration.
            let before = TransactionStoreConfiguration(migrations: Migration.embedded.filter { $0.version <= 13 })
            let old = try await TransactionStateStore.open(path: path, configuration: before, now: epochMs)
            for number in 0..<5 {
                _ = try await old.recordPrepared(prepared(number))
            }
            _ = try await old.resolve(transactionId: "txn-0", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            try await old.close()

            let store = try await TransactionStateStore.open(path: path, now: epochMs)
            #expect(try await store.countsByState() == [.prepared: 4, .committed: 1, .rolledBack: 0, .parked: 0])
            _ = try await store.recordPrepared(prepared(5))
            #expect(try await store.countsByState() == (try await fullCount(path)))
            try await store.close()
        }
    }
}
