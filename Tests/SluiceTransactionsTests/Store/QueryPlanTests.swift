import Testing

@testable import SluiceTransactions

@Suite("TransactionStateStore query plans")
struct QueryPlanTests {
    static let filters: [TransactionFilter] = [
        TransactionFilter(),
        TransactionFilter(state: .prepared),
        TransactionFilter(createdBeforeMs: 5),
        TransactionFilter(state: .parked, createdBeforeMs: 5),
        TransactionFilter(producerGroup: "g"),
        TransactionFilter(topic: "t"),
        TransactionFilter(state: .prepared, topic: "t"),
    ]

    @Test(
        "operator listings walk an index in page order instead of sorting the table", arguments: filters, [false, true])
    func listingUsesIndexOrder(filter: TransactionFilter, withCursor: Bool) async throws {
        try await withStore { store in
            let cursor = withCursor ? TransactionCursor(createdAtMs: 1, transactionId: "x") : nil
            let (sql, bindings) = TransactionStateStore.listStatement(filter: filter, limit: 10, after: cursor)
            let plan = try await store.executor.read { connection in
                try connection.query("EXPLAIN QUERY PLAN " + sql, bindings) { $0.string(at: 3) }
            }
            #expect(plan.contains { $0.contains("INDEX transactions_") }, "plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
        }
    }
}
