import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("MQTTRetainedStore")
struct MQTTRetainedStoreTests {
    /// Migrates `transactions.sqlite` the way the broker does, then opens the retained store on it.
    static func withStore<T>(
        in directory: String, maxCount: Int = 100, maxBytes: Int = 1 << 20, _ body: (MQTTRetainedStore) async throws -> T
    ) async throws -> T {
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: 1_000)
        let retained = try await MQTTRetainedStore.open(path: path, maxCount: maxCount, maxBytes: maxBytes)
        do {
            let result = try await body(retained)
            await retained.close()
            try await store.close()
            return result
        } catch {
            await retained.close()
            try? await store.close()
            throw error
        }
    }

    @Test("one message per topic: a later one replaces it, an empty payload deletes it, rows survive a reopen")
    func retainReplaceDelete() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory) { retained async throws in
                try await retained.retain(topic: "home/kitchen", payload: [1], qos: 0)
                try await retained.retain(topic: "home/kitchen", payload: [2, 2], qos: 1)
                try await retained.retain(topic: "home/hall", payload: [3], qos: 0)
                try await retained.retain(topic: "office", payload: [4], qos: 1)
                try await retained.retain(topic: "never/set", payload: [], qos: 0)
                #expect(retained.count == 3)
                #expect(retained.matching { $0.hasPrefix("home/") } == [
                    .init(topic: "home/hall", payload: [3], qos: 0), .init(topic: "home/kitchen", payload: [2, 2], qos: 1),
                ])
            }
            try await Self.withStore(in: directory) { retained async throws in
                #expect(retained.count == 3)
                try await retained.retain(topic: "home/hall", payload: [], qos: 0)
                #expect(retained.matching { _ in true }.map(\.topic) == ["home/kitchen", "office"])
            }
            try await Self.withStore(in: directory) { retained async throws in
                #expect(retained.matching { _ in true }.map(\.topic) == ["home/kitchen", "office"])
            }
        }
    }

    @Test("the count and byte limits refuse a new topic and change nothing; replacing within them is fine")
    func limits() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory, maxCount: 2, maxBytes: 20) { retained async throws in
                try await retained.retain(topic: "a", payload: [UInt8](repeating: 0, count: 5), qos: 0)
                try await retained.retain(topic: "b", payload: [UInt8](repeating: 0, count: 5), qos: 0)
                await #expect(throws: BrokerError.self) { try await retained.retain(topic: "c", payload: [1], qos: 0) }
                await #expect(throws: BrokerError.self) {
                    try await retained.retain(topic: "a", payload: [UInt8](repeating: 0, count: 20), qos: 0)
                }
                try await retained.retain(topic: "a", payload: [UInt8](repeating: 1, count: 8), qos: 1)
                #expect(retained.matching { $0 == "a" }.first?.payload.count == 8)
                #expect(retained.count == 2)
            }
        }
    }

    @Test("an empty topic is refused")
    func emptyTopic() async {
        let retained = MQTTRetainedStore.inMemory()
        await #expect(throws: BrokerError.self) { try await retained.retain(topic: "", payload: [1], qos: 0) }
    }
}
