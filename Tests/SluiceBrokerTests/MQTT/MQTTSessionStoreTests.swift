import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("MQTTSessionStore")
struct MQTTSessionStoreTests {
    /// Migrates `transactions.sqlite` the way the broker does, then opens the session store on it.
    static func withStore<T>(
        in directory: String, maxSessions: Int = 100, _ body: (MQTTSessionStore) async throws -> T
    ) async throws -> T {
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: 1_000)
        let sessions = try await MQTTSessionStore.open(path: path, maxSessions: maxSessions)
        do {
            let result = try await body(sessions)
            await sessions.close()
            try await store.close()
            return result
        } catch {
            await sessions.close()
            try? await store.close()
            throw error
        }
    }

    @Test("a kept session's filters and QoS 2 packet ids survive a reopen; a clean one's do not")
    func keptSurvivesReopen() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory) { sessions async throws in
                #expect(try await sessions.open("kept", durable: true) == .new)
                #expect(try await sessions.open("passing", durable: false) == .new)
                for id in ["kept", "passing"] {
                    try await sessions.subscribed(id, filter: "a/#", qos: 2)
                    try await sessions.subscribed(id, filter: "b/+", qos: 1)
                    try await sessions.received(id, packetId: 7)
                    try await sessions.sending(id, packetId: 3, origin: "mqtt-kept|a|0|12")
                    try await sessions.sending(id, packetId: 4, origin: "mqtt-kept|a|1|5")
                    try await sessions.receivedByClient(id, packetId: 4)
                }
                try await sessions.unsubscribed("kept", filter: "b/+")
            }
            try await Self.withStore(in: directory) { sessions async throws in
                #expect(sessions.count == 1)
                #expect(sessions.session("passing") == nil)
                var expected = MQTTSessionStore.Session(durable: true)
                expected.filters = ["a/#": 2]
                expected.inbound = [7]
                expected.outbound = [
                    3: .init(origin: "mqtt-kept|a|0|12", released: false), 4: .init(origin: "mqtt-kept|a|1|5", released: true),
                ]
                #expect(try await sessions.open("kept", durable: true) == .resumed(expected))
                #expect(sessions.hasInbound("kept", packetId: 7))
                try await sessions.released("kept", packetId: 7)
                try await sessions.completed("kept", packetId: 4)
            }
            try await Self.withStore(in: directory) { sessions async throws in
                #expect(sessions.session("kept")?.inbound == [])
                #expect(sessions.session("kept")?.outbound.keys.sorted() == [3])
                // Clean session 1 discards the kept session (§3.1.2.4), on disk too.
                #expect(try await sessions.open("kept", durable: false) == .new)
                #expect(try await sessions.open("kept", durable: true) == .new)
                try await sessions.discard("kept")
            }
            try await Self.withStore(in: directory) { sessions async throws in
                #expect(sessions.count == 0)
            }
        }
    }

    @Test("past maxSessions a new session is refused; a known one still opens")
    func limit() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory, maxSessions: 2) { sessions async throws in
                #expect(try await sessions.open("a", durable: true) == .new)
                #expect(try await sessions.open("b", durable: false) == .new)
                #expect(try await sessions.open("c", durable: true) == .full)
                #expect(try await sessions.open("a", durable: true) == .resumed(.init(durable: true)))
            }
        }
    }
}
