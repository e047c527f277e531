import SluiceTransactions
import Testing

@Suite("TransactionChecker routing")
struct CheckerRoutingTests {
    @Test("the check goes to the very client instance that sent the half message")
    func originalClient() async throws {
        try await withChecker { harness in
            harness.directory.connect("client-0")
            harness.directory.connect("client-2")
            _ = try await harness.store.recordPrepared(prepared(1, clientId: "client-2"))
            harness.advance(toOffsetMs: 6_000)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.calls.map(\.clientId) == ["client-2"])
            #expect(try await harness.store.checkHistory(transactionId: "txn-1").map(\.clientId) == ["client-2"])
        }
    }

    @Test("when the sender is gone the check goes to another live instance of its producer group")
    func fallbackToGroup() async throws {
        try await withChecker { harness in
            harness.directory.connect("client-a", producerGroup: "elsewhere")
            _ = try await harness.store.recordPrepared(prepared(1, clientId: "client-gone"))
            harness.advance(toOffsetMs: 6_000)
            #expect(await harness.checker.runOnce().sent == 1)
            #expect(harness.sender.calls.map(\.clientId) == ["client-1"])
            #expect(try await harness.store.checkHistory(transactionId: "txn-1").map(\.clientId) == ["client-1"])
        }
    }

    @Test("with no live instance nothing is sent, no budget is spent, and the check is retried later")
    func noLiveClient() async throws {
        try await withChecker { harness in
            harness.directory.disconnect("client-1")
            _ = try await harness.store.recordPrepared(prepared(1))

            harness.advance(toOffsetMs: 6_000)
            let report = await harness.checker.runOnce()
            #expect(report.noClient == 1)
            #expect(report.sent == 0)
            #expect(harness.sender.calls.isEmpty)
            var record = try #require(try await harness.store.transaction(id: "txn-1"))
            #expect(record.checkCount == 0)
            #expect(record.lastCheckAtMs == nil)
            #expect(record.nextCheckAtMs == epochMs + 11_000)
            #expect(try await harness.store.checkHistory(transactionId: "txn-1").isEmpty)

            harness.advance(toOffsetMs: 10_999)
            #expect(await harness.checker.runOnce().due == 0)

            // Still nobody at 11 s; many more waits spend nothing either.
            for offsetMs in stride(from: Int64(11_000), through: 200_000, by: 5_000) {
                harness.advance(toOffsetMs: offsetMs)
                #expect(await harness.checker.runOnce().noClient == 1)
            }
            record = try #require(try await harness.store.transaction(id: "txn-1"))
            #expect(record.checkCount == 0)
            #expect(record.state == .prepared)

            harness.directory.connect("client-1")
            harness.advance(toOffsetMs: 206_000)
            #expect(await harness.checker.runOnce().sent == 1)
            #expect(harness.sender.calls.map(\.check.attempt) == [1])
        }
    }

    @Test("a failed send is withdrawn: the budget is given back and the check retried after the retry delay")
    func failedSendWithdrawn() async throws {
        try await withChecker { harness in
            harness.sender.setUnreachable("client-1")
            _ = try await harness.store.recordPrepared(prepared(1))

            harness.advance(toOffsetMs: 6_000)
            let report = await harness.checker.runOnce()
            #expect(report.sendFailed == 1)
            #expect(report.sent == 0)
            let record = try #require(try await harness.store.transaction(id: "txn-1"))
            #expect(record.checkCount == 0)
            #expect(!record.checkOutstanding)
            #expect(record.nextCheckAtMs == epochMs + 11_000)
            #expect(try await harness.store.checkHistory(transactionId: "txn-1").isEmpty)

            harness.sender.setUnreachable("client-1", false)
            harness.advance(toOffsetMs: 11_000)
            #expect(await harness.checker.runOnce().sent == 1)
            #expect(harness.sender.calls.map(\.check.attempt) == [1, 1])
            #expect(try await harness.store.checkHistory(transactionId: "txn-1").map(\.attempt) == [1])
        }
    }
}
