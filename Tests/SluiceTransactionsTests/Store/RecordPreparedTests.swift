import SluiceTransactions
import Testing

@Suite("TransactionStateStore.recordPrepared")
struct RecordPreparedTests {
    @Test("records a prepared row with its first check scheduled after the default delay")
    func insertsPrepared() async throws {
        try await withStore { store in
            let result = try await store.recordPrepared(prepared(1))
            #expect(result == .inserted(transactionId: "txn-1"))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == .prepared)
            #expect(record.messageId == "msg-1")
            #expect(record.topic == "orders")
            #expect(record.producerGroup == "checkout")
            #expect(record.clientId == "client-1")
            #expect(record.keys == "key-1")
            #expect(record.tags == "tag")
            #expect(record.commitLogOffset == 1_024)
            #expect(record.commitLogSize == 512)
            #expect(record.createdAtMs == epochMs)
            #expect(record.nextCheckAtMs == epochMs + 6_000)
            #expect(record.checkCount == 0)
            #expect(!record.checkOutstanding)
            #expect(record.resolvedAtMs == nil)
            #expect(record.resolutionSource == nil)
            #expect(record.firstCheckDelayMs == nil)
        }
    }

    @Test("a per-message first check delay overrides the default")
    func firstCheckDelayOverride() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1, firstCheckDelayMs: 30_000))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.nextCheckAtMs == epochMs + 30_000)
            #expect(record.firstCheckDelayMs == 30_000)
        }
    }

    @Test("a retried half-send returns the existing transaction id and writes nothing")
    func idempotentOnClientTopicMessage() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            var retry = prepared(1)
            retry.transactionId = "txn-retry"
            retry.commitLogOffset = 99_999
            #expect(try await store.recordPrepared(retry) == .duplicate(existingTransactionId: "txn-1"))
            #expect(try await store.recordPrepared(retry).transactionId == "txn-1")
            #expect(try await store.transaction(id: "txn-retry") == nil)
            #expect(try await store.transaction(id: "txn-1")?.commitLogOffset == 1_024)
            #expect(try await store.countsByState()[.prepared] == 1)
        }
    }

    @Test("the same message id from another client or topic is a different transaction")
    func keyIncludesClientAndTopic() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            var otherClient = prepared(1, clientId: "client-2")
            otherClient.transactionId = "txn-a"
            var otherTopic = prepared(1, topic: "payments")
            otherTopic.transactionId = "txn-b"
            #expect(try await store.recordPrepared(otherClient) == .inserted(transactionId: "txn-a"))
            #expect(try await store.recordPrepared(otherTopic) == .inserted(transactionId: "txn-b"))
        }
    }

    @Test("a transaction id reused for another message is refused")
    func duplicateTransactionId() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            var clash = prepared(2)
            clash.transactionId = "txn-1"
            let error = try await #require(throws: TransactionStoreError.self) { try await store.recordPrepared(clash) }
            #expect(error.code == .duplicateTransactionId)
            #expect(try await store.countsByState()[.prepared] == 1)
        }
    }

    @Test(
        "an empty id, topic or client is refused before anything is written",
        arguments: [
            "transactionId", "messageId", "topic", "clientId",
        ])
    func emptyFields(name: String) async throws {
        try await withStore { store in
            var transaction = prepared(1)
            switch name {
            case "transactionId": transaction.transactionId = ""
            case "messageId": transaction.messageId = ""
            case "topic": transaction.topic = ""
            default: transaction.clientId = ""
            }
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.recordPrepared(transaction)
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(name))
        }
    }

    @Test("a negative offset, an empty body or a negative delay is refused")
    func invalidNumbers() async throws {
        try await withStore { store in
            var negativeOffset = prepared(1)
            negativeOffset.commitLogOffset = -1
            var emptyBody = prepared(2)
            emptyBody.commitLogSize = 0
            for transaction in [negativeOffset, emptyBody, prepared(3, firstCheckDelayMs: -5)] {
                let error = try await #require(throws: TransactionStoreError.self) {
                    try await store.recordPrepared(transaction)
                }
                #expect(error.code == .invalidArgument)
            }
            #expect(try await store.countsByState().values.reduce(0, +) == 0)
        }
    }
}
