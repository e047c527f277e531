import SluiceTransactions
import Testing

@Suite("TransactionStateStore.resolve")
struct ResolveTests {
    @Test("commit applies once; committing again is alreadyResolved", arguments: TransactionResolution.allCases)
    func repeatIsIdempotent(resolution: TransactionResolution) async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            let first = try await store.resolve(
                transactionId: "txn-1", resolution: resolution, source: .producer, actor: "client-1", at: epochMs + 10)
            #expect(first == .applied(from: .prepared, to: resolution.resultingState))
            let again = try await store.resolve(
                transactionId: "txn-1", resolution: resolution, source: .producer, actor: "client-1", at: epochMs + 20)
            #expect(again == .alreadyResolved(resolution.resultingState))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == resolution.resultingState)
            #expect(record.resolvedAtMs == epochMs + 10)
            #expect(record.resolutionSource == .producer)
            #expect(record.resolvedBy == "client-1")
            #expect(record.nextCheckAtMs == nil)
        }
    }

    @Test(
        "the opposite resolution after a final one is refused and changes nothing",
        arguments: [
            (TransactionResolution.commit, TransactionResolution.rollback, "rollback after commit"),
            (.rollback, .commit, "commit after rollback"),
        ])
    func conflictingResolution(first: TransactionResolution, second: TransactionResolution, phrase: String) async throws
    {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: first, source: .producer, actor: nil, at: epochMs)
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.resolve(
                    transactionId: "txn-1", resolution: second, source: .check, actor: nil, at: epochMs + 1)
            }
            #expect(error.code == .conflictingResolution)
            #expect(error.transactionId == "txn-1")
            #expect(error.message.hasPrefix(phrase))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.state == first.resultingState)
            #expect(record.resolutionSource == .producer)
        }
    }

    @Test("resolving an unknown transaction fails with unknownTransaction")
    func unknownTransaction() async throws {
        try await withStore { store in
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.resolve(
                    transactionId: "nope", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            }
            #expect(error.code == .unknownTransaction)
        }
    }

    @Test(
        "a parked transaction can still be resolved by the producer or an operator",
        arguments: [
            ResolutionSource.producer, .operator, .check,
        ])
    func parkedIsResolvable(source: ResolutionSource) async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            #expect(
                try await store.park(transactionId: "txn-1", reason: "budget spent", at: epochMs + 1)
                    == .applied(from: .prepared, to: .parked))
            let parked = try #require(try await store.transaction(id: "txn-1"))
            #expect(parked.nextCheckAtMs == nil)
            #expect(parked.resolvedAtMs == nil)
            let result = try await store.resolve(
                transactionId: "txn-1", resolution: .commit, source: source, actor: "someone",
                reason: "checked by hand",
                at: epochMs + 2)
            #expect(result == .applied(from: .parked, to: .committed))
            #expect(try await store.transaction(id: "txn-1")?.resolutionSource == source)
        }
    }

    @Test("the rollback policy rolls back a prepared transaction; nothing happens to a resolved one")
    func rollbackPolicy() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.recordPrepared(prepared(2))
            _ = try await store.resolve(
                transactionId: "txn-2", resolution: .commit, source: .producer, actor: nil, at: epochMs)
            #expect(
                try await store.exhaustCheckBudget(transactionId: "txn-1", policy: .rollback, at: epochMs + 5)
                    == .applied(from: .prepared, to: .rolledBack))
            #expect(
                try await store.exhaustCheckBudget(transactionId: "txn-2", policy: .rollback, at: epochMs + 5)
                    == .alreadyResolved(.committed))
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.resolutionSource == .policy)
            #expect(record.resolvedAtMs == epochMs + 5)
            let audit = try await store.auditLog(transactionId: "txn-1")
            #expect(audit.map(\.action) == ["resolve.rollback"])
            #expect(audit.first?.actor == "policy")
            #expect(try await store.auditLog(transactionId: "txn-2").isEmpty)
        }
    }

    @Test("an operator resolution writes an audit row in the same transaction, refused ones too")
    func operatorAudit() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            let result = try await store.operatorResolve(
                transactionId: "txn-1", resolution: .rollback, operator: "alice", reason: "producer gone",
                at: epochMs + 7)
            #expect(result == .applied(from: .prepared, to: .rolledBack))
            await #expect(throws: TransactionStoreError.self) {
                try await store.operatorResolve(
                    transactionId: "txn-1", resolution: .commit, operator: "bob", reason: nil, at: epochMs + 8)
            }
            await #expect(throws: TransactionStoreError.self) {
                try await store.operatorResolve(
                    transactionId: "ghost", resolution: .commit, operator: "bob", reason: nil, at: epochMs + 9)
            }
            let audit = try await store.auditLog(transactionId: "txn-1")
            #expect(audit.map(\.actor) == ["alice", "bob"])
            #expect(audit.map(\.action) == ["resolve.rollback", "resolve.commit"])
            #expect(audit[0].detail == "prepared -> rolled_back")
            #expect(audit[0].reason == "producer gone")
            #expect(audit[0].atMs == epochMs + 7)
            #expect(audit[1].detail?.hasPrefix("refused: commit after rollback") == true)
            #expect(try await store.auditLog(transactionId: "ghost").map(\.detail) == ["unknown transaction"])
            let record = try #require(try await store.transaction(id: "txn-1"))
            #expect(record.resolvedBy == "alice")
            #expect(record.resolutionReason == "producer gone")
        }
    }

    @Test("producer resolutions are not audited")
    func producerNotAudited() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            _ = try await store.resolve(
                transactionId: "txn-1", resolution: .commit, source: .producer, actor: "c", at: epochMs)
            #expect(try await store.auditLog(transactionId: "txn-1").isEmpty)
        }
    }

    @Test("an operator resolution without an operator name is refused")
    func operatorNeedsActor() async throws {
        try await withStore { store in
            _ = try await store.recordPrepared(prepared(1))
            let error = try await #require(throws: TransactionStoreError.self) {
                try await store.resolve(
                    transactionId: "txn-1", resolution: .commit, source: .operator, actor: "", at: epochMs)
            }
            #expect(error.code == .invalidArgument)
            #expect(try await store.transaction(id: "txn-1")?.state == .prepared)
        }
    }

    @Test("racing commit and rollback: exactly one wins, the other is refused")
    func racingResolutions() async throws {
        try await withStore { store in
            for number in 0..<50 {
                _ = try await store.recordPrepared(prepared(number))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<50 {
                    for resolution in TransactionResolution.allCases {
                        group.addTask {
                            do {
                                _ = try await store.resolve(
                                    transactionId: "txn-\(number)", resolution: resolution, source: .producer,
                                    actor: nil,
                                    at: epochMs)
                            } catch let error as TransactionStoreError where error.code == .conflictingResolution {
                                // the loser
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let counts = try await store.countsByState()
            #expect(counts[.committed, default: 0] + counts[.rolledBack, default: 0] == 50)
            #expect(counts[.prepared] == 0)
        }
    }
}
