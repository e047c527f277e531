import Logging
import NIOConcurrencyHelpers
import SluiceTransactions
import SluiceWire

/// The clients connected to this broker, keyed by `x-mq-client-id`: their Telemetry streams (for
/// pushing check-backs), what they declared, and when they were last heard from.
///
/// RocketMQ 5's wire has no producer group: a producer is a live check-back target for a topic
/// when its settings listed the topic or it sent a half message to it.
public final class ClientSessions: Sendable {
    struct Session {
        var streamID: UInt64
        var clientType: Apache_Rocketmq_V2_ClientType
        var topics: Set<String>
        var outbound: AsyncStream<Apache_Rocketmq_V2_TelemetryCommand>.Continuation
        /// When the client was last heard from: stream opened, settings, heartbeat, send.
        var lastSeen: ContinuousClock.Instant
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var nextStreamID: UInt64 = 0
        /// Topics each client sent to, kept while it is connected.
        var sentTopics: [String: Set<String>] = [:]
    }
    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    /// A client silent this long is no longer a check-back target even while its stream looks
    /// open (the reference proxy forgets clients after 120 s; clients heartbeat every 10 s).
    let livenessTimeout: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(
        logger: Logger, livenessTimeout: Duration = .seconds(120),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.logger = logger
        self.livenessTimeout = livenessTimeout
        self.now = now
    }

    /// Registers a client's Telemetry stream, replacing an older one of the same client.
    func open(
        clientId: String, outbound: AsyncStream<Apache_Rocketmq_V2_TelemetryCommand>.Continuation
    ) -> UInt64 {
        let replaced: Session? = state.withLockedValue { state in
            state.nextStreamID += 1
            let old = state.sessions[clientId]
            state.sessions[clientId] = Session(
                streamID: state.nextStreamID, clientType: .unspecified, topics: [], outbound: outbound, lastSeen: now())
            return old
        }
        replaced?.outbound.finish()
        return state.withLockedValue { $0.sessions[clientId]!.streamID }
    }

    /// Records what a client's settings declare.
    func update(clientId: String, settings: Apache_Rocketmq_V2_Settings) {
        state.withLockedValue { state in
            guard var session = state.sessions[clientId] else { return }
            session.lastSeen = now()
            session.clientType = settings.clientType
            if case .publishing(let publishing) = settings.pubSub {
                session.topics = Set(publishing.topics.map(\.name))
            }
            state.sessions[clientId] = session
        }
    }

    /// Ends a stream's registration, unless the client has opened a newer stream since.
    func close(clientId: String, streamID: UInt64) {
        state.withLockedValue { state in
            if state.sessions[clientId]?.streamID == streamID {
                state.sessions[clientId] = nil
                state.sentTopics[clientId] = nil
            }
        }
    }

    /// NotifyClientTermination: the client is gone; stop choosing it for check-backs.
    func terminate(clientId: String) {
        let session = state.withLockedValue { state -> Session? in
            state.sentTopics[clientId] = nil
            return state.sessions.removeValue(forKey: clientId)
        }
        session?.outbound.finish()
    }

    func noteSent(clientId: String, topic: String) {
        state.withLockedValue { state in
            guard state.sessions[clientId] != nil else { return }
            state.sessions[clientId]?.lastSeen = now()
            state.sentTopics[clientId, default: []].insert(topic)
        }
    }

    /// A heartbeat (or any other sign of life) from the client.
    func noteHeartbeat(clientId: String) {
        state.withLockedValue { $0.sessions[clientId]?.lastSeen = now() }
    }

    /// Pushes a command on the client's Telemetry stream; false when it has none.
    func push(_ command: Apache_Rocketmq_V2_TelemetryCommand, to clientId: String) -> Bool {
        guard let session = state.withLockedValue({ $0.sessions[clientId] }) else { return false }
        if case .enqueued = session.outbound.yield(command) { return true }
        return false
    }

    var connectedClientCount: Int { state.withLockedValue { $0.sessions.count } }
}

extension ClientSessions: ProducerDirectory {
    public func isLive(clientId: String) -> Bool {
        let cutoff = now() - livenessTimeout
        return state.withLockedValue { $0.sessions[clientId].map { $0.lastSeen >= cutoff } ?? false }
    }

    public func liveClients(producerGroup: String, topic: String) -> [String] {
        let cutoff = now() - livenessTimeout
        return state.withLockedValue { state in
            state.sessions.filter { clientId, session in
                session.clientType == .producer && session.lastSeen >= cutoff
                    && (session.topics.contains(topic) || state.sentTopics[clientId]?.contains(topic) == true)
            }.map(\.key).sorted()
        }
    }
}
