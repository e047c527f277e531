import Logging
import ServiceLifecycle
import SluiceTransactions
import Testing

@Suite("TransactionStateStore lifecycle")
struct StoreLifecycleTests {
    @Test("data survives close and re-open; re-open applies no migration")
    func reopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let store = try await TransactionStateStore.open(path: path, now: epochMs)
            _ = try await store.recordPrepared(prepared(1))
            try await store.close()

            let reopened = try await TransactionStateStore.open(path: path, now: epochMs + 1)
            #expect(try await reopened.transaction(id: "txn-1")?.state == .prepared)
            try await reopened.close()

            let connection = try await SQLiteExecutor.open(path: path)
            let appliedAt = try await connection.read {
                try $0.query("SELECT applied_at FROM schema_migrations") { $0.int64(at: 0) }
            }
            #expect(appliedAt == Migration.embedded.map { _ in epochMs })
            try await connection.close()
        }
    }

    @Test("a closed store fails calls with closed")
    func closedStore() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await TransactionStateStore.open(path: directory + "/t.sqlite", now: epochMs)
            try await store.close()
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.recordPrepared(prepared(1))
            }
            #expect(error.code == .closed)
            let readError = try await #require(throws: TransactionStoreError.self) { try await store.countsByState() }
            #expect(readError.code == .closed)
        }
    }

    @Test("as a service, the store closes on graceful shutdown")
    func serviceShutdown() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await TransactionStateStore.open(path: directory + "/t.sqlite", now: epochMs)
            let group = ServiceGroup(services: [store], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                _ = try await store.recordPrepared(prepared(1))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let error = try await #require(throws: TransactionStoreError.self) { try await store.countsByState() }
            #expect(error.code == .closed)
        }
    }
}
