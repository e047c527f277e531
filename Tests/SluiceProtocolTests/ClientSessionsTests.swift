import Logging
@testable import SluiceProtocol
import SluiceWire
import Synchronization
import Testing

@Suite("client sessions: who is a live check-back target")
struct ClientSessionsTests {
    final class Clock: Sendable {
        let offset = Mutex<Duration>(.zero)
        let start = ContinuousClock.now
        var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
        func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
    }

    static func producerSettings(_ topics: [String]) -> Apache_Rocketmq_V2_Settings {
        var settings = Apache_Rocketmq_V2_Settings()
        settings.clientType = .producer
        var publishing = Apache_Rocketmq_V2_Publishing()
        publishing.topics = topics.map { name in
            var resource = Apache_Rocketmq_V2_Resource()
            resource.name = name
            return resource
        }
        settings.publishing = publishing
        return settings
    }

    @Test("a producer with an open stream is live while it heartbeats, not after it falls silent or leaves")
    func liveness() {
        let clock = Clock()
        let sessions = ClientSessions(logger: Logger(label: "t"), livenessTimeout: .seconds(120), now: { clock.now })
        let (_, continuation) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        _ = sessions.open(clientId: "p1", outbound: continuation)
        sessions.update(clientId: "p1", settings: Self.producerSettings(["payments"]))
        #expect(sessions.isLive(clientId: "p1"))
        #expect(sessions.liveClients(producerGroup: "", topic: "payments") == ["p1"])
        for _ in 0..<20 {
            clock.advance(.seconds(10))
            sessions.noteHeartbeat(clientId: "p1")
        }
        #expect(sessions.isLive(clientId: "p1"), "heartbeats keep it live")
        clock.advance(.seconds(121))
        #expect(!sessions.isLive(clientId: "p1"), "silent for longer than the timeout")
        #expect(sessions.liveClients(producerGroup: "", topic: "payments").isEmpty)
        sessions.noteHeartbeat(clientId: "p1")
        #expect(sessions.isLive(clientId: "p1"), "back once it heartbeats again")
        sessions.terminate(clientId: "p1")
        #expect(!sessions.isLive(clientId: "p1"), "NotifyClientTermination ends it")
        sessions.noteHeartbeat(clientId: "p1")
        #expect(!sessions.isLive(clientId: "p1"), "a heartbeat without a stream gives no check-back target")
    }
}
