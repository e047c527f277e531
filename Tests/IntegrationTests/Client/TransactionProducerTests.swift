import Foundation
import SluiceClient
import SluiceTesting
import Testing

@Suite("Swift client SDK: transactional sends and check-backs against a real broker", .serialized)
struct TransactionProducerTests {
    /// Check-backs start 1 s after the half message and repeat every second.
    static let brokerArguments = ["--transaction-timeout", "1s", "--transaction-check-interval", "1s"]

    struct SaveFailed: Error {}

    @Test("commit delivers the message; a thrown local transaction rolls back and rethrows")
    func commitAndRollback() async throws {
        try await withBroker(extraArguments: Self.brokerArguments) { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("payments", type: "transaction")
            try await broker.createGroup("ledger", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            let checks = Collected<String>()
            let rolledBackIDs = Collected<String>()
            let committed = try await TransactionProducer.withTransactionProducer(
                configuration: configuration, topics: ["payments"],
                checker: { check in
                    // "Don't know": on a loaded machine a check may legitimately overtake an
                    // end; this answer leaves the decision to the producer's own end.
                    await checks.append(check.transactionID)
                    return .unknown
                }
            ) { producer in
                do {
                    _ = try await producer.sendTransactional(Message(topic: "payments", text: "lost")) { transaction in
                        await rolledBackIDs.append(transaction.transactionID)
                        throw SaveFailed()
                    }
                    Issue.record("the local transaction's error was swallowed")
                } catch is SaveFailed {
                }
                let explicitRollback = try await producer.sendTransactional(Message(topic: "payments", text: "declined")) { _ in
                    .rollback
                }
                #expect(explicitRollback.endTransactionError == nil)
                await rolledBackIDs.append(explicitRollback.receipt.transactionID)
                return try await producer.sendTransactional(Message(topic: "payments", text: "paid", keys: ["order-7"])) {
                    transaction in
                    #expect(!transaction.transactionID.isEmpty)
                    return .commit
                }
            }
            let endedAt = ContinuousClock.now
            #expect(committed.resolution == .commit)
            #expect(committed.endTransactionError == nil)
            try await SimpleConsumer.withSimpleConsumer(
                configuration: configuration, group: "ledger", subscriptions: ["payments": "*"], awaitDuration: .seconds(2)
            ) { consumer in
                let received = try await receiveAndAck(consumer, count: 1)
                #expect(received.map(\.text) == ["paid"])
                #expect(received.first?.messageID == committed.receipt.messageID)
                // Rolled-back halves never appear, even after a check interval.
                let more = try await consumer.receive(maxMessages: 8, invisibleDuration: .seconds(5))
                #expect(more.isEmpty, "rolled back messages delivered: \(more.map(\.text))")
            }
            // Past the first check (1 s) and a check interval: a transaction the broker wrongly
            // still thought prepared would have been checked by now.
            try await Task.sleep(until: endedAt + .seconds(3))
            // Each transaction was ended by its producer, and no check-back went out after that.
            let rolledBack = await rolledBackIDs.values
            #expect(rolledBack.count == 2)
            for (id, state) in rolledBack.map({ ($0, "rolled-back") }) + [(committed.receipt.transactionID, "committed")] {
                let detail = try await broker.transactionDetail(id)
                #expect(detail.state == state, "\(id): \(detail)")
                #expect(detail.resolutionSource == "producer", "\(id): \(detail)")
                let resolvedAt = try #require(detail.resolvedAt)
                #expect(detail.checksSentAt.allSatisfy { $0 <= resolvedAt }, "\(id) checked after it was resolved: \(detail)")
            }
        }
    }

    @Test("an unknown outcome is settled by the checker's answer to the broker's check-back")
    func checkBackCommits() async throws {
        try await withBroker(extraArguments: Self.brokerArguments) { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("payments", type: "transaction")
            try await broker.createGroup("ledger", consumeFrom: "earliest")
            let configuration = broker.clientConfiguration
            let savedOrders = Collected<String>()  // the service's "database": saved transaction ids
            let checks = Collected<TransactionCheck>()
            try await TransactionProducer.withTransactionProducer(
                configuration: configuration, topics: ["payments"],
                checker: { check in
                    await checks.append(check)
                    return await savedOrders.values.contains(check.transactionID) ? .commit : .rollback
                }
            ) { producer in
                let saved = try await producer.sendTransactional(
                    Message(topic: "payments", text: "saved", keys: ["order-1"], properties: ["order": "1"])
                ) { transaction in
                    await savedOrders.append(transaction.transactionID)
                    return .unknown  // as if the process lost track before committing
                }
                let unsaved = try await producer.sendTransactional(Message(topic: "payments", text: "unsaved")) { _ in
                    .unknown
                }
                let bothChecked = await eventually {
                    let ids = Set(await checks.values.map(\.transactionID))
                    return ids.contains(saved.receipt.transactionID) && ids.contains(unsaved.receipt.transactionID)
                }
                let checkedIDs = await checks.values.map(\.transactionID)
                #expect(bothChecked, "checks: \(checkedIDs)")
                let check = try #require(await checks.values.first { $0.transactionID == saved.receipt.transactionID })
                #expect(check.message.text == "saved")
                #expect(check.message.keys == ["order-1"])
                #expect(check.message.properties["order"] == "1")
                #expect(check.message.messageID == saved.receipt.messageID)
            }
            try await SimpleConsumer.withSimpleConsumer(
                configuration: configuration, group: "ledger", subscriptions: ["payments": "*"], awaitDuration: .seconds(2)
            ) { consumer in
                let received = try await receiveAndAck(consumer, count: 1)
                #expect(received.map(\.text) == ["saved"])
                let more = try await consumer.receive(maxMessages: 8, invisibleDuration: .seconds(5))
                #expect(more.isEmpty, "the rolled-back half was delivered: \(more.map(\.text))")
            }
        }
    }
}
