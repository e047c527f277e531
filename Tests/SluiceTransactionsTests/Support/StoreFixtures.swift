import SluiceTransactions

/// A fixed epoch for tests: 2026-01-01T00:00:00Z in milliseconds.
let epochMs: Int64 = 1_767_225_600_000

/// Opens a store in a fresh directory, runs `body`, closes it.
func withStore<T>(
    configuration: TransactionStoreConfiguration = TransactionStoreConfiguration(),
    _ body: (TransactionStateStore) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let store = try await TransactionStateStore.open(
            path: directory + "/transactions.sqlite", configuration: configuration, now: epochMs)
        do {
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }
}

/// A half message with defaults; `number` makes ids and offsets distinct.
func prepared(
    _ number: Int,
    topic: String = "orders",
    producerGroup: String = "checkout",
    clientId: String = "client-1",
    createdAtMs: Int64 = epochMs,
    firstCheckDelayMs: Int64? = nil
) -> PreparedTransaction {
    PreparedTransaction(
        transactionId: "txn-\(number)",
        messageId: "msg-\(number)",
        topic: topic,
        producerGroup: producerGroup,
        clientId: clientId,
        keys: "key-\(number)",
        tags: "tag",
        commitLogOffset: Int64(number) * 1_024,
        commitLogSize: 512,
        createdAtMs: createdAtMs,
        firstCheckDelayMs: firstCheckDelayMs)
}

/// A test's own error, to tell a body's failure from the executor's.
struct TestFailure: Error, Equatable {
    var label: String
}
