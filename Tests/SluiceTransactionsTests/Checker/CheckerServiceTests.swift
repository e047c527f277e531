import Logging
import ServiceLifecycle
import SluiceTransactions
import Testing

@Suite("TransactionChecker service")
struct CheckerServiceTests {
    @Test("run() checks, waits pollInterval on its clock, wakes early on wake(), and stops on graceful shutdown")
    func runLoop() async throws {
        try await withChecker { harness in
            let store = harness.store
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 0))
            let group = ServiceGroup(services: [harness.checker], logger: Logger(label: "test"))
            var events = harness.sender.events.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }

                #expect(await events.next()?.check.transactionId == "txn-1")
                await harness.clock.waitForSleeper()

                // Woken: the next pass runs without the clock moving.
                _ = try await store.recordPrepared(prepared(2, createdAtMs: harness.nowMs, firstCheckDelayMs: 0))
                harness.checker.wake()
                #expect(await events.next()?.check.transactionId == "txn-2")
                await harness.clock.waitForSleeper()

                // Not woken: the next pass runs once pollInterval (1 s) has passed.
                _ = try await store.recordPrepared(prepared(3, createdAtMs: harness.nowMs, firstCheckDelayMs: 0))
                harness.clock.advance(by: .seconds(1))
                #expect(await events.next()?.check.transactionId == "txn-3")
                await harness.clock.waitForSleeper()

                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(harness.sender.transactionIds == ["txn-1", "txn-2", "txn-3"])
        }
    }

    @Test("after a full batch run() starts the next pass without waiting")
    func fullBatchContinues() async throws {
        var configuration = TransactionCheckerConfiguration.unlimited
        configuration.batchLimit = 10
        try await withChecker(configuration: configuration) { harness in
            for number in 0..<25 {
                _ = try await harness.store.recordPrepared(prepared(number, firstCheckDelayMs: 0))
            }
            let checker = harness.checker
            var events = harness.sender.events.makeAsyncIterator()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await checker.run() }
                for _ in 0..<25 {
                    _ = await events.next()
                }
                await harness.clock.waitForSleeper()
                tasks.cancelAll()
                try await tasks.waitForAll()
            }
            #expect(Set(harness.sender.transactionIds).count == 25)
            #expect(harness.clock.now.offset == .zero)
        }
    }

    @Test("run() returns when its task is cancelled")
    func cancellationStops() async throws {
        try await withChecker { harness in
            let checker = harness.checker
            let running = Task { try await checker.run() }
            await harness.clock.waitForSleeper()
            running.cancel()
            try await running.value
            #expect(harness.clock.sleeperCount == 0)
        }
    }
}
