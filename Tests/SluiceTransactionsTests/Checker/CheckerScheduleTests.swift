import SluiceTransactions
import Testing

@Suite("TransactionChecker schedule")
struct CheckerScheduleTests {
    @Test("the first check is sent exactly at the transaction timeout, not before")
    func firstCheckAtTimeout() async throws {
        try await withChecker { harness in
            _ = try await harness.store.recordPrepared(prepared(1))

            harness.advance(toOffsetMs: 5_999)
            #expect(await harness.checker.runOnce().sent == 0)
            #expect(harness.sender.calls.isEmpty)

            harness.advance(toOffsetMs: 6_000)
            let report = await harness.checker.runOnce()
            #expect(report.due == 1)
            #expect(report.sent == 1)
            let call = try #require(harness.sender.calls.first)
            #expect(
                call.check
                    == TransactionCheck(
                        transactionId: "txn-1", messageId: "msg-1", topic: "orders", producerGroup: "checkout",
                        commitLogOffset: 1_024, commitLogSize: 512, attempt: 1))
            let record = try #require(try await harness.store.transaction(id: "txn-1"))
            #expect(record.checkCount == 1)
            #expect(record.checkOutstanding)
            #expect(record.lastCheckAtMs == epochMs + 6_000)
        }
    }

    @Test("a transaction whose resolution is under way is not checked: no attempt recorded, checked later if it stays prepared")
    func notWhileBeingResolved() async throws {
        try await withChecker { harness in
            _ = try await harness.store.recordPrepared(prepared(1))
            harness.sender.setResolving("txn-1", true)
            harness.advance(toOffsetMs: 6_000)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.calls.isEmpty)
            #expect(try await harness.store.transaction(id: "txn-1")?.checkCount == 0)

            // The resolution failed (the row is still prepared): the next pass checks it.
            harness.sender.setResolving("txn-1", false)
            harness.advance(toOffsetMs: 7_000)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.transactionIds == ["txn-1"])
        }
    }

    @Test("a per-message recovery duration replaces the default timeout")
    func perMessageRecoveryDuration() async throws {
        try await withChecker { harness in
            _ = try await harness.store.recordPrepared(prepared(1, firstCheckDelayMs: 20_000))
            _ = try await harness.store.recordPrepared(prepared(2))

            harness.advance(toOffsetMs: 6_000)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.transactionIds == ["txn-2"])

            harness.advance(toOffsetMs: 19_999)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.transactionIds == ["txn-2"])

            harness.advance(toOffsetMs: 20_000)
            _ = await harness.checker.runOnce()
            #expect(harness.sender.transactionIds == ["txn-2", "txn-1"])
        }
    }

    @Test("an unanswered check is repeated after the check interval, closing the first as no_answer")
    func recheckAfterInterval() async throws {
        try await withChecker { harness in
            _ = try await harness.store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)
            _ = await harness.checker.runOnce()

            harness.advance(toOffsetMs: 35_999)
            #expect(await harness.checker.runOnce().due == 0)
            harness.advance(toOffsetMs: 36_000)
            #expect(await harness.checker.runOnce().sent == 1)

            #expect(harness.sender.calls.map(\.check.attempt) == [1, 2])
            let history = try await harness.store.checkHistory(transactionId: "txn-1")
            #expect(history.map(\.outcome) == [.noAnswer, nil])
            #expect(history.map(\.sentAtMs) == [epochMs + 6_000, epochMs + 36_000])
        }
    }

    @Test("an outstanding check is not sent again before its answer deadline, however often passes run")
    func outstandingCheckWaitsForDeadline() async throws {
        var configuration = TransactionCheckerConfiguration.unlimited
        configuration.answerTimeout = .seconds(10)
        try await withChecker(configuration: configuration) { harness in
            _ = try await harness.store.recordPrepared(prepared(1))
            harness.advance(toOffsetMs: 6_000)
            #expect(await harness.checker.runOnce().sent == 1)

            for offsetMs in stride(from: Int64(6_000), through: 15_999, by: 1_000) + [15_999] {
                harness.advance(toOffsetMs: offsetMs)
                #expect(await harness.checker.runOnce().sent == 0)
                #expect(await harness.checker.runOnce().sent == 0)
            }
            harness.advance(toOffsetMs: 16_000)
            #expect(await harness.checker.runOnce().sent == 1)
            #expect(harness.sender.calls.map(\.check.attempt) == [1, 2])
        }
    }

    @Test("with a backoff multiplier the pause between checks grows")
    func backoff() async throws {
        var configuration = TransactionCheckerConfiguration.unlimited
        configuration.backoffMultiplier = 2
        try await withChecker(configuration: configuration) { harness in
            _ = try await harness.store.recordPrepared(prepared(1))
            // 6 s, then pauses of 30 s, 60 s, 120 s.
            var sentAtOffsetsMs: [Int64] = []
            for offsetMs in stride(from: Int64(6_000), through: 216_000, by: 1_000) {
                harness.advance(toOffsetMs: offsetMs)
                if await harness.checker.runOnce().sent == 1 {
                    sentAtOffsetsMs.append(offsetMs)
                }
            }
            #expect(sentAtOffsetsMs == [6_000, 36_000, 96_000, 216_000])
        }
    }
}
