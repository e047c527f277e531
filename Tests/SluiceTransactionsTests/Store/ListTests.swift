import SluiceTransactions
import Testing

@Suite("TransactionStateStore listings")
struct ListTests {
    /// Reads every page of `filter` and returns the ids in order.
    private func allPages(
        _ store: TransactionStateStore, filter: TransactionFilter = TransactionFilter(), pageSize: Int
    ) async throws -> (ids: [String], pages: Int) {
        var ids: [String] = []
        var cursor: TransactionCursor?
        var pages = 0
        repeat {
            let page = try await store.list(filter: filter, limit: pageSize, after: cursor)
            #expect(page.records.count <= pageSize)
            ids += page.records.map(\.transactionId)
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil
        return (ids, pages)
    }

    @Test("pagination returns every row exactly once, oldest first, ties broken by id", arguments: [1, 7, 20, 1_000])
    func paginationCoversEveryRow(pageSize: Int) async throws {
        try await withStore { store in
            // 101 rows on 10 distinct creation times, so most pages split a run of equal times.
            for number in 0..<101 {
                _ = try await store.recordPrepared(prepared(number, createdAtMs: epochMs + Int64(number % 10)))
            }
            let (ids, pages) = try await allPages(store, pageSize: pageSize)
            #expect(ids.count == 101)
            #expect(Set(ids).count == 101)
            #expect(pages == max(1, (101 + pageSize - 1) / pageSize))
            let expected = (0..<101).map { (created: $0 % 10, id: "txn-\($0)") }
                .sorted { ($0.created, $0.id) < ($1.created, $1.id) }
                .map(\.id)
            #expect(ids == expected)
        }
    }

    @Test("rows added between pages never repeat a row already returned")
    func stableUnderInserts() async throws {
        try await withStore { store in
            for number in 0..<30 {
                _ = try await store.recordPrepared(prepared(number, createdAtMs: epochMs + Int64(number)))
            }
            let first = try await store.list(limit: 10)
            _ = try await store.recordPrepared(prepared(100, createdAtMs: epochMs - 1))  // before the cursor
            _ = try await store.recordPrepared(prepared(101, createdAtMs: epochMs + 1_000))  // after it
            var ids = first.records.map(\.transactionId)
            var cursor = first.nextCursor
            while let next = cursor {
                let page = try await store.list(limit: 10, after: next)
                ids += page.records.map(\.transactionId)
                cursor = page.nextCursor
            }
            #expect(Set(ids).count == ids.count)
            #expect(ids.count == 31)
            #expect(ids.last == "txn-101")
            #expect(!ids.contains("txn-100"))
        }
    }

    @Test("filters by state, age, producer group, topic and client, and combine")
    func filters() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(
                prepared(1, topic: "orders", producerGroup: "g1", clientId: "c1", createdAtMs: epochMs))
            _ = try await store.recordPrepared(
                prepared(2, topic: "orders", producerGroup: "g2", clientId: "c2", createdAtMs: epochMs + 10))
            _ = try await store.recordPrepared(
                prepared(3, topic: "payments", producerGroup: "g1", clientId: "c1", createdAtMs: epochMs + 20))
            _ = try await store.recordPrepared(
                prepared(4, topic: "payments", producerGroup: "g2", clientId: "c2", createdAtMs: epochMs + 30))
            _ = try await store.resolve(
                transactionId: "txn-2", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            _ = try await store.park(transactionId: "txn-4", at: epochMs)

            func ids(_ filter: TransactionFilter) async throws -> [String] {
                try await store.list(filter: filter, limit: 100).records.map(\.transactionId)
            }
            #expect(try await ids(TransactionFilter()) == ["txn-1", "txn-2", "txn-3", "txn-4"])
            #expect(try await ids(TransactionFilter(state: .prepared)) == ["txn-1", "txn-3"])
            #expect(try await ids(TransactionFilter(state: .parked)) == ["txn-4"])
            #expect(try await ids(TransactionFilter(createdBeforeMs: epochMs + 20)) == ["txn-1", "txn-2"])
            #expect(try await ids(TransactionFilter(producerGroup: "g2")) == ["txn-2", "txn-4"])
            #expect(try await ids(TransactionFilter(topic: "payments")) == ["txn-3", "txn-4"])
            #expect(try await ids(TransactionFilter(clientId: "c1")) == ["txn-1", "txn-3"])
            #expect(try await ids(TransactionFilter(state: .prepared, topic: "payments")) == ["txn-3"])
            #expect(try await ids(TransactionFilter(state: .committed, producerGroup: "g1")) == [])
        }
    }

    @Test("a filtered listing paginates over the matching rows only")
    func filteredPagination() async throws {
        try await withStore { store in
            for number in 0..<40 {
                _ = try await store.recordPrepared(prepared(number, topic: number.isMultiple(of: 2) ? "even" : "odd"))
            }
            let (ids, _) = try await allPages(store, filter: TransactionFilter(topic: "even"), pageSize: 6)
            #expect(ids.count == 20)
            #expect(Set(ids) == Set((0..<40).filter { $0.isMultiple(of: 2) }.map { "txn-\($0)" }))
        }
    }

    @Test(
        "cursor tokens round-trip; malformed ones are rejected",
        arguments: [
            ("1767225600000.txn-1", TransactionCursor(createdAtMs: 1_767_225_600_000, transactionId: "txn-1")),
            ("5.a.b", TransactionCursor(createdAtMs: 5, transactionId: "a.b")),
            ("-3.x", TransactionCursor(createdAtMs: -3, transactionId: "x")),
            ("", nil), ("abc.x", nil), ("12.", nil), ("12", nil),
        ])
    func cursorTokens(token: String, expected: TransactionCursor?) {
        #expect(TransactionCursor(token: token) == expected)
        if let expected {
            #expect(expected.token == token)
        }
    }

    @Test("a page size outside 1...1000 is refused", arguments: [0, -1, 1_001])
    func pageSizeLimits(limit: Int) async throws {
        try await withStore { store in
            let error = try await #require(throws: TransactionStoreError.self) { try await store.list(limit: limit) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("\(limit)"))
        }
    }
}
