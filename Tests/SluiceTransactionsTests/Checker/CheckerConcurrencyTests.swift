import SluiceTransactions
import Testing

@Suite("TransactionChecker concurrency")
struct CheckerConcurrencyTests {
    @Test("two concurrent passes send one check per transaction", arguments: [1, 300])
    func concurrentPassesNoDuplicates(transactions: Int) async throws {
        try await withChecker { harness in
            for number in 0..<transactions {
                _ = try await harness.store.recordPrepared(prepared(number))
            }
            harness.advance(toOffsetMs: 6_000)
            async let first = harness.checker.runOnce()
            async let second = harness.checker.runOnce()
            let reports = await [first, second]
            #expect(reports.map(\.sent).reduce(0, +) == transactions)
            #expect(harness.sender.calls.count == transactions)
            #expect(Set(harness.sender.transactionIds).count == transactions)
            #expect(harness.checker.inFlightCount == 0)
        }
    }

    @Test("a check still being sent is not sent again, even once its deadline has passed")
    func inFlightCheckNotResent() async throws {
        try await withChecker { harness in
            let gate = TestGate()
            harness.sender.setHook { _, _ in await gate.wait() }
            _ = try await harness.store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)

            let checker = harness.checker
            async let slowPass = checker.runOnce()
            var events = harness.sender.events.makeAsyncIterator()
            #expect(await events.next()?.check.transactionId == "txn-1")
            #expect(checker.inFlightCount == 1)

            // The first check's deadline passes while its send is still stuck.
            harness.advance(toOffsetMs: 36_001)
            let overlapping = await checker.runOnce()
            #expect(overlapping.due == 1)
            #expect(overlapping.alreadyInFlight == 1)
            #expect(overlapping.sent == 0)

            gate.open()
            #expect(await slowPass.sent == 1)
            #expect(checker.inFlightCount == 0)
            #expect(harness.sender.calls.count == 1)

            // Now the unanswered check is due again and goes out as attempt 2.
            #expect(await checker.runOnce().sent == 1)
            #expect(harness.sender.calls.map(\.check.attempt) == [1, 2])
        }
    }

    @Test("10,000 due transactions are dispatched in a few passes")
    func manyDueDispatched() async throws {
        let count = 10_000
        try await withChecker { harness in
            let store = harness.store
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<count {
                    group.addTask { _ = try await store.recordPrepared(prepared(number)) }
                }
                try await group.waitForAll()
            }
            harness.advance(toOffsetMs: 6_000)
            var passes = 0
            var sent = 0
            while true {
                let report = await harness.checker.runOnce()
                passes += 1
                sent += report.sent
                if report.due == 0 || passes > 20 { break }
            }
            #expect(sent == count)
            // batchLimit 1,000: ten full passes and one that finds nothing left.
            #expect(passes == 11)
            #expect(Set(harness.sender.transactionIds).count == count)
            #expect(try await store.countsByState()[.prepared] == count)
        }
    }
}
