import Logging
import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("SQLiteTopicRegistry")
struct SQLiteTopicRegistryTests {
    /// Migrates `transactions.sqlite` the way the broker does (the transaction store first), then
    /// opens a registry on it at a fixed time.
    static func withRegistry<T>(
        in directory: String, _ body: (SQLiteTopicRegistry) async throws -> T
    ) async throws -> T {
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: 1_000)
        let registry = try await SQLiteTopicRegistry.open(path: path, nowMs: { 1_700_000_000_000 })
        do {
            let result = try await body(registry)
            await registry.close()
            try await store.close()
            return result
        } catch {
            await registry.close()
            try? await store.close()
            throw error
        }
    }

    @Test("creates a topic and finds it by name")
    func createAndFind() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                let topic = try await registry.create(name: "orders", type: .fifo, queueCount: 8)
                #expect(topic == TopicDefinition(
                    name: "orders", messageType: .fifo, queueCount: 8, createdAtMs: 1_700_000_000_000))
                #expect(try await registry.topic(named: "orders") == topic)
                #expect(try await registry.topic(named: "missing") == nil)
            }
        }
    }

    @Test("an identical create returns the existing topic unchanged")
    func idempotentCreate() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                let first = try await registry.create(name: "orders", type: .normal, queueCount: 4)
                let again = try await registry.create(name: "orders", type: .normal, queueCount: 4)
                #expect(again == first)
                #expect(try await registry.list() == [first])
            }
        }
    }

    @Test("a create with another type or queue count is refused with topicExists naming the difference",
        arguments: [
            (TopicMessageType.fifo, 4, "type normal, not fifo"),
            (.normal, 16, "4 queues, not 16"),
            (.transaction, 2, "type normal, not transaction and 4 queues, not 2"),
        ])
    func conflict(_ type: TopicMessageType, _ queues: Int, _ expected: String) async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                let original = try await registry.create(name: "orders", type: .normal, queueCount: 4)
                let error = await #expect(throws: BrokerError.self) {
                    try await registry.create(name: "orders", type: type, queueCount: queues)
                }
                #expect(error?.code == .topicExists)
                #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
                #expect(try await registry.topic(named: "orders") == original)
            }
        }
    }

    @Test("refuses bad names and queue counts outside 1...256", arguments: [
        ("bad name", 8, "not allowed"), ("RMQ_SYS_X", 8, "reserved"), ("ok", 0, "1 to 256 queues; got 0"),
        ("ok", 257, "1 to 256 queues; got 257"),
    ])
    func invalid(_ name: String, _ queues: Int, _ expected: String) async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                let error = await #expect(throws: BrokerError.self) {
                    try await registry.create(name: name, type: .normal, queueCount: queues)
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
                #expect(try await registry.list().isEmpty)
            }
        }
    }

    @Test("delete removes a topic, reports a missing one, and the name can be created again with another type")
    func delete() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                _ = try await registry.create(name: "orders", type: .normal, queueCount: 8)
                #expect(try await registry.delete(named: "orders"))
                #expect(try await registry.topic(named: "orders") == nil)
                #expect(try await !registry.delete(named: "orders"))
                #expect(try await registry.list().isEmpty)
                let again = try await registry.create(name: "orders", type: .delay, queueCount: 2)
                #expect(try await registry.topic(named: "orders") == again)
            }
        }
    }

    @Test("list is ordered by name")
    func listOrder() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                for name in ["zeta", "alpha", "Mid"] {
                    _ = try await registry.create(name: name, type: .normal, queueCount: 1)
                }
                #expect(try await registry.list().map(\.name) == ["Mid", "alpha", "zeta"])
            }
        }
    }

    @Test("topics survive closing and reopening the database")
    func persistence() async throws {
        try await withTemporaryDirectory { directory in
            let created = try await Self.withRegistry(in: directory) { registry async throws in
                let kept = try await registry.create(name: "kept", type: .transaction, queueCount: 3)
                _ = try await registry.create(name: "gone", type: .normal, queueCount: 8)
                #expect(try await registry.delete(named: "gone"))
                return kept
            }
            try await Self.withRegistry(in: directory) { registry async throws in
                #expect(try await registry.list() == [created])
                #expect(try await registry.topic(named: "kept") == created)
            }
        }
    }

    @Test("lookups answer from memory: a row deleted behind the registry's back is still found until reopen")
    func lookupsUseTheCache() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let topic = try await Self.withRegistry(in: directory) { registry async throws in
                let topic = try await registry.create(name: "cached", type: .normal, queueCount: 8)
                let other = try await SQLiteExecutor.open(path: path)
                let removed = try await other.write { try $0.run("DELETE FROM topics WHERE name = 'cached'") }
                try await other.close()
                #expect(removed == 1)
                #expect(try await registry.topic(named: "cached") == topic)
                #expect(try await registry.list() == [topic])
                return topic
            }
            try await Self.withRegistry(in: directory) { registry async throws in
                #expect(try await registry.topic(named: topic.name) == nil)
            }
        }
    }

    @Test("concurrent creates of one name store one topic and agree on it")
    func concurrentCreates() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                let results = try await withThrowingTaskGroup(of: TopicDefinition.self) { group in
                    for _ in 0..<16 {
                        group.addTask { try await registry.create(name: "race", type: .fifo, queueCount: 8) }
                    }
                    return try await group.reduce(into: [TopicDefinition]()) { $0.append($1) }
                }
                #expect(Set(results).count == 1)
                #expect(try await registry.list().count == 1)
            }
        }
    }

    @Test("a database without the topics table (not migrated) fails to open with storageUnavailable")
    func unmigrated() async throws {
        try await withTemporaryDirectory { directory in
            let error = await #expect(throws: BrokerError.self) {
                try await SQLiteTopicRegistry.open(path: directory + "/empty.sqlite")
            }
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("topic table") == true, "\(error?.message ?? "")")
        }
    }

    @Test("requireTopic refuses a message of the wrong type and an unknown topic")
    func requireTopic() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withRegistry(in: directory) { registry async throws in
                _ = try await registry.create(name: "orders", type: .fifo, queueCount: 8)
                _ = try await registry.requireTopic(named: "orders", accepting: .fifo)
                let wrong = await #expect(throws: BrokerError.self) {
                    try await registry.requireTopic(named: "orders", accepting: .normal)
                }
                #expect(wrong?.code == .invalidMessage)
                #expect(wrong?.message == "topic 'orders' carries fifo messages; a normal message cannot be sent to it")
                let missing = await #expect(throws: BrokerError.self) {
                    try await registry.requireTopic(named: "nope", accepting: .normal)
                }
                #expect(missing?.code == .topicNotFound)
            }
        }
    }
}
