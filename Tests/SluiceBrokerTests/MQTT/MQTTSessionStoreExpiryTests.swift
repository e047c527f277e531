import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

@Suite("MQTTSessionStore: MQTT 5 session expiry")
struct MQTTSessionStoreExpiryTests {
    /// A settable wall clock, in milliseconds.
    final class Clock: Sendable {
        let now = Atomic<Int64>(1_000_000)
        func advance(seconds: Int64) { now.add(seconds * 1000, ordering: .relaxed) }
    }

    static func withStore<T>(
        in directory: String, clock: Clock, _ body: (MQTTSessionStore) async throws -> T
    ) async throws -> T {
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: 1_000)
        let sessions = try await MQTTSessionStore.open(path: path, nowMs: { clock.now.load(ordering: .relaxed) })
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

    @Test("a disconnected session expires after its interval, across a reopen; while connected it does not")
    func expiresAcrossReopen() async throws {
        let clock = Clock()
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory, clock: clock) { sessions async throws in
                #expect(try await sessions.open("short", cleanStart: true, expirySeconds: 10) == .new)
                #expect(try await sessions.open("never", cleanStart: true, expirySeconds: nil) == .new)
                try await sessions.subscribed("short", filter: "a/#", options: 0b10_0110, identifier: 268_435_455)
                clock.advance(seconds: 100)
                // Connected: no countdown.
                #expect(sessions.expired().isEmpty)
                try await sessions.disconnected("short", expirySeconds: 10)
                try await sessions.disconnected("never", expirySeconds: nil)
                clock.advance(seconds: 5)
                #expect(sessions.expired().isEmpty)
            }
            try await Self.withStore(in: directory, clock: clock) { sessions async throws in
                // The countdown and the options survived the restart.
                var expected = MQTTSessionStore.Session(durable: true, expirySeconds: 10)
                expected.filters = ["a/#": 0b10_0110]
                expected.identifiers = ["a/#": 268_435_455]
                expected.disconnectedAtMs = 1_000_000 + 100_000
                #expect(sessions.session("short") == expected)
                clock.advance(seconds: 5)
                #expect(sessions.expired() == ["short"])
                // An expired session does not resume, even without clean start.
                #expect(try await sessions.open("short", cleanStart: false, expirySeconds: 10) == .new)
                #expect(sessions.expired().isEmpty)
                clock.advance(seconds: 1_000_000)
                #expect(sessions.expired().isEmpty)
            }
        }
    }

    @Test("clean start discards a kept session; without it the session resumes with the new expiry")
    func cleanStart() async throws {
        let clock = Clock()
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory, clock: clock) { sessions async throws in
                #expect(try await sessions.open("c", cleanStart: true, expirySeconds: 60) == .new)
                try await sessions.subscribed("c", filter: "t", qos: 1)
                try await sessions.disconnected("c", expirySeconds: 60)
                clock.advance(seconds: 30)
                var resumed = MQTTSessionStore.Session(durable: true, expirySeconds: 300)
                resumed.filters = ["t": 1]
                #expect(try await sessions.open("c", cleanStart: false, expirySeconds: 300) == .resumed(resumed))
                #expect(try await sessions.open("c", cleanStart: true, expirySeconds: 60) == .new)
                #expect(sessions.session("c")?.filters == [:])
                // Expiry 0: resumed, but no longer kept (it ends with its connection).
                try await sessions.subscribed("c", filter: "u", qos: 2)
                #expect(try await sessions.open("c", cleanStart: false, expirySeconds: 0) != .new)
                #expect(sessions.session("c")?.durable == false)
            }
            try await Self.withStore(in: directory, clock: clock) { sessions async throws in
                #expect(sessions.session("c") == nil)
            }
        }
    }
}
