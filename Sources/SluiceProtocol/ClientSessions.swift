import Logging
import Metrics
import SluiceBroker
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
        /// The consumer group its subscription settings named (nil for producers).
        var consumerGroup: String? = nil
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
    /// Clients with an open Telemetry stream at most (`--max-clients`); a new client's stream
    /// over it is refused with TOO_MANY_REQUESTS. A client replacing its own stream always fits.
    let maxClients: Int
    private let sessionsGauge = Gauge(label: "sluice_client_sessions")
    /// A client silent this long is no longer a check-back target even while its stream looks
    /// open (the reference proxy forgets clients after 120 s; clients heartbeat every 10 s).
    let livenessTimeout: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(
        logger: Logger, livenessTimeout: Duration = .seconds(120), maxClients: Int = ClientLimits().maxClients,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.logger = logger
        self.maxClients = max(1, maxClients)
        self.livenessTimeout = livenessTimeout
        self.now = now
    }

    /// Registers a client's Telemetry stream, replacing an older one of the same client; nil when
    /// `maxClients` other clients are connected.
    ///
    /// The stream id is read under the same lock that stores the session: a second lookup
    /// (there was one, force-unwrapped) races a concurrent close or replacement.
    func open(
        clientId: String, outbound: AsyncStream<Apache_Rocketmq_V2_TelemetryCommand>.Continuation
    ) -> UInt64? {
        let (streamID, replaced, count): (UInt64?, Session?, Int) = state.withLockedValue { state in
            let old = state.sessions[clientId]
            if old == nil, state.sessions.count >= maxClients { return (nil, nil, state.sessions.count) }
            state.nextStreamID += 1
            state.sessions[clientId] = Session(
                streamID: state.nextStreamID, clientType: .unspecified, topics: [], outbound: outbound, lastSeen: now())
            return (state.nextStreamID, old, state.sessions.count)
        }
        replaced?.outbound.finish()
        sessionsGauge.record(count)
        return streamID
    }

    /// Records what a client's settings declare.
    func update(clientId: String, settings: Apache_Rocketmq_V2_Settings) {
        state.withLockedValue { state in
            guard var session = state.sessions[clientId] else { return }
            session.lastSeen = now()
            session.clientType = settings.clientType
            if case .publishing(let publishing) = settings.pubSub {
                // The caller checked the count and names (`WireLimits.settingsTopics`).
                session.topics = Set(publishing.topics.prefix(WireLimits.settingsTopics).map(\.name))
            }
            if case .subscription(let subscription) = settings.pubSub {
                session.consumerGroup = subscription.group.name
            }
            state.sessions[clientId] = session
        }
    }

    /// Ends a stream's registration, unless the client has opened a newer stream since.
    func close(clientId: String, streamID: UInt64) {
        let count = state.withLockedValue { state in
            if state.sessions[clientId]?.streamID == streamID {
                state.sessions[clientId] = nil
                state.sentTopics[clientId] = nil
            }
            return state.sessions.count
        }
        sessionsGauge.record(count)
    }

    /// NotifyClientTermination: the client is gone; stop choosing it for check-backs.
    func terminate(clientId: String) {
        let (session, count) = state.withLockedValue { state -> (Session?, Int) in
            state.sentTopics[clientId] = nil
            return (state.sessions.removeValue(forKey: clientId), state.sessions.count)
        }
        session?.outbound.finish()
        sessionsGauge.record(count)
    }

    func noteSent(clientId: String, topic: String) {
        state.withLockedValue { state in
            guard state.sessions[clientId] != nil else { return }
            state.sessions[clientId]?.lastSeen = now()
            // Bounded per client: past the cap a topic is not remembered, and check-backs for it
            // go to the client that sent the half (routed by its id) or to a declared producer.
            if state.sentTopics[clientId, default: []].count < WireLimits.sentTopicsPerClient {
                state.sentTopics[clientId, default: []].insert(topic)
            }
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

    /// Connected clients whose settings named `consumerGroup`.
    func clients(consumerGroup: String) -> [String] {
        state.withLockedValue { state in
            state.sessions.filter { $0.value.consumerGroup == consumerGroup }.map(\.key).sorted()
        }
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
