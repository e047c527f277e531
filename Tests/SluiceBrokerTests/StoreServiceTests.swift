import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("StoreService")
struct StoreServiceTests {
    static func configuration(_ directory: String) -> CommitLogConfiguration {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = 64 << 10
        return configuration
    }

    @Test("becomes ready after recovery and closes the log on graceful shutdown")
    func readyThenClosed() async throws {
        try await withTemporaryDirectory { directory in
            let readiness = Readiness()
            let service = StoreService(
                configuration: Self.configuration(directory), readiness: readiness, logger: Logger(label: "test"))
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await service.run() }
                    // Recovery runs on its own thread; bounded wait for it to report.
                    let deadline = ContinuousClock.now + .seconds(60)
                    while !readiness.isReady, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    #expect(readiness.isReady)
                    #expect(FileManager.default.fileExists(atPath: directory + "/abort"))
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
            #expect(readiness.state == .stopping)
            #expect(!FileManager.default.fileExists(atPath: directory + "/abort"))
        }
    }

    @Test("a data folder held by another open log fails with storageUnavailable and marks readiness failed")
    func lockedFolder() async throws {
        try await withTemporaryDirectory { directory in
            let holder = try await CommitLog.open(Self.configuration(directory), logger: Logger(label: "holder"))
            let readiness = Readiness()
            let service = StoreService(
                configuration: Self.configuration(directory), readiness: readiness, logger: Logger(label: "test"))
            let error = await #expect(throws: BrokerError.self) { try await service.run() }
            await holder.close()
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("in use by another process") == true, "\(String(describing: error))")
            guard case .failed = readiness.state else {
                Issue.record("readiness is \(readiness.state)")
                return
            }
        }
    }
}

@Suite("StoreService: the transaction table")
struct StoreServiceTransactionTests {
    @Test("opens and migrates the transaction table next to the log; the coordinator is available when ready")
    func opensTransactionTable() async throws {
        try await withTemporaryDirectory { directory in
            let readiness = Readiness()
            let service = StoreService(
                configuration: StoreServiceTests.configuration(directory), readiness: readiness, logger: Logger(label: "test"))
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await service.run() }
                    let deadline = ContinuousClock.now + .seconds(60)
                    while !readiness.isReady, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                    #expect(readiness.isReady)
                    #expect(service.coordinator != nil)
                    #expect(FileManager.default.fileExists(atPath: StoreService.transactionDatabasePath(directory)))
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("refuses to start on a transaction table written by a newer Sluice, and says so")
    func refusesNewerSchema() async throws {
        try await withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: StoreService.transactionDatabasePath(directory))
            try connection.execute(
                "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT")
            try connection.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 0)")
            try connection.close()
            let readiness = Readiness()
            let service = StoreService(
                configuration: StoreServiceTests.configuration(directory), readiness: readiness, logger: Logger(label: "test"))
            do {
                try await service.run()
                Issue.record("the broker started on a too-new database")
            } catch {
                #expect("\(error)".contains("newer Sluice"))
            }
            #expect(!readiness.isReady)
            // The log was closed cleanly on the way out.
            #expect(!FileManager.default.fileExists(atPath: directory + "/abort"))
        }
    }
}
