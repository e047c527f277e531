import NIOCore
import SluiceMQTTWire
import Synchronization

/// One connection's session: its subscriptions grouped into pumps (one per consumer group and
/// Sluice topic, since one group must not be read by two pumps of a session), the QoS 1 and 2
/// deliveries awaiting PUBACK or PUBREC, and when the client last spoke. Shared by the inbound loop, the
/// pumps and the keep-alive watchdog, so it is a lock around plain state (no awaits inside).
final class MQTTSessionState: Sendable {
    struct PumpKey: Hashable, Sendable {
        var group: String
        var topic: String
    }

    /// A delivery awaiting its PUBACK (QoS 1) or PUBREC (QoS 2): where to acknowledge it in Sluice.
    struct Pending: Sendable {
        var key: PumpKey
        var receiptHandle: String
        /// Where the message is in Sluice (`MQTTSessionStore.origin`); empty for a retained one.
        var origin: String = ""
        var sentAt = ContinuousClock.now
    }

    /// A delivery unanswered this long is forgotten: its message is visible in Sluice again by
    /// then and will be delivered anew, so a client that never sends PUBACK cannot hold the
    /// in-flight slots for ever.
    static let pendingLifetime = Duration.seconds(MQTTAccessLimits.invisibleSeconds)

    /// What the client's CONNECT settled for the rest of the connection.
    struct Negotiated: Sendable {
        var version: MQTTVersion = .v311
        /// MQTT 5 maximum packet size: a larger packet is not sent to the client (§3.1.2.11.4).
        var clientMaxPacketBytes = Int.max
        /// MQTT 5 request problem information: reason strings go out only when not 0.
        var problemInformation = true
    }

    private struct State {
        var negotiated = Negotiated()
        /// MQTT 5 inbound topic aliases (§3.3.2.3.4), at most `topicAliasMaximum`.
        var topicAliases: [UInt16: String] = [:]
        /// Below `limits.maxInflightPerConnection` when the client's receive maximum is.
        var inflightLimit: Int
        var pumps: [PumpKey: [String: MQTTSubscription]] = [:]
        var filterCount = 0
        var pending: [UInt16: Pending] = [:]
        var lastPacketId: UInt16 = 0
        var lastSeen: ContinuousClock.Instant
        /// Silence after which the connection closes; nil for none (keep-alive 0).
        var silenceLimit: Duration?
    }

    private let state: Mutex<State>
    let limits: MQTTAccessLimits

    init(limits: MQTTAccessLimits) {
        self.limits = limits
        state = Mutex(State(inflightLimit: limits.maxInflightPerConnection, lastSeen: .now, silenceLimit: limits.connectTimeout))
    }

    /// The topic aliases one MQTT 5 client may set (CONNACK's topic alias maximum).
    static let topicAliasMaximum: UInt16 = 64

    // MARK: negotiated

    var negotiated: Negotiated { state.withLock { $0.negotiated } }

    var version: MQTTVersion { state.withLock { $0.negotiated.version } }

    func negotiate(_ negotiated: Negotiated, receiveMaximum: UInt16?) {
        state.withLock { state in
            state.negotiated = negotiated
            if let receiveMaximum { state.inflightLimit = min(limits.maxInflightPerConnection, Int(receiveMaximum)) }
        }
    }

    enum AliasOutcome: Equatable { case topic(String), unknown, invalid }

    /// The topic of an MQTT 5 PUBLISH with a topic alias: a non-empty `topic` sets the alias,
    /// an empty one uses it. `invalid` for 0 or past the maximum; `unknown` for an unset alias.
    func resolve(alias: UInt16, topic: String) -> AliasOutcome {
        guard alias != 0, alias <= Self.topicAliasMaximum else { return .invalid }
        return state.withLock { state in
            if !topic.isEmpty {
                state.topicAliases[alias] = topic
                return .topic(topic)
            }
            return state.topicAliases[alias].map(AliasOutcome.topic) ?? .unknown
        }
    }

    // MARK: keep-alive

    func heard() { state.withLock { $0.lastSeen = .now } }

    /// 1.5 times the keep-alive (§3.1.2.10); 0 turns the check off.
    func setKeepAlive(seconds: UInt16) {
        state.withLock { $0.silenceLimit = seconds == 0 ? nil : .milliseconds(Int64(seconds) * 1500) }
    }

    /// How long until the connection has been silent too long; zero when it already has.
    func silenceLeft() -> Duration? {
        state.withLock { state in
            state.silenceLimit.map { max(.zero, $0 - (ContinuousClock.now - state.lastSeen)) }
        }
    }

    // MARK: subscriptions

    enum Added { case newPump, existingPump, overLimit }

    /// Adds or replaces the subscription (`subscription.qos` is the granted QoS).
    func subscribe(_ key: PumpKey, _ subscription: MQTTSubscription) -> Added {
        state.withLock { state in
            let filter = subscription.filter
            let isNewFilter = state.pumps[key]?[filter] == nil
            if isNewFilter, state.filterCount >= limits.maxSubscriptionsPerConnection { return .overLimit }
            if isNewFilter { state.filterCount += 1 }
            let isNewPump = state.pumps[key] == nil
            state.pumps[key, default: [:]][filter] = subscription
            return isNewPump ? .newPump : .existingPump
        }
    }

    /// Whether the session holds `fullFilter` (its full text) under any pump.
    func hasFilter(_ fullFilter: String) -> Bool {
        state.withLock { state in state.pumps.values.contains { $0[fullFilter] != nil } }
    }

    /// Removes `filter` wherever it is (a plain filter or a `$share` one, by its full text);
    /// false when the session did not hold it.
    @discardableResult
    func unsubscribe(_ fullFilter: String) -> Bool {
        state.withLock { state in
            var removed = false
            for key in state.pumps.keys where state.pumps[key]?.removeValue(forKey: fullFilter) != nil {
                state.filterCount -= 1
                removed = true
            }
            return removed
        }
    }

    /// The pump's subscriptions by their full filter text; nil when it has none left, in
    /// which case the pump is forgotten and must end.
    func filters(_ key: PumpKey) -> [String: MQTTSubscription]? {
        state.withLock { state in
            guard let filters = state.pumps[key], !filters.isEmpty else {
                state.pumps[key] = nil
                return nil
            }
            return filters
        }
    }

    // MARK: QoS 1 and 2 deliveries

    /// Room for more QoS 1 and 2 deliveries.
    var inflightRoom: Int {
        state.withLock { state in
            let now = ContinuousClock.now
            state.pending = state.pending.filter { now - $0.value.sentAt < Self.pendingLifetime }
            return state.inflightLimit - state.pending.count
        }
    }

    /// A packet id for a delivery: the one an earlier delivery of the same message still holds
    /// (`redelivery` true: the PUBLISH goes again with that id and DUP, §4.4), else a new one,
    /// never 0, never one awaiting an answer and never one in `reserved` (QoS 2 ids awaiting
    /// PUBCOMP). Nil when no id is free.
    func track(_ pending: Pending, reserved: Set<UInt16> = []) -> (packetId: UInt16, redelivery: Bool)? {
        state.withLock { state in
            if !pending.origin.isEmpty, let earlier = state.pending.first(where: { $0.value.origin == pending.origin }) {
                state.pending[earlier.key] = pending
                return (earlier.key, true)
            }
            guard state.pending.count + reserved.count < 65_535 else { return nil }
            var id = state.lastPacketId
            repeat { id = id == UInt16.max ? 1 : id + 1 } while state.pending[id] != nil || reserved.contains(id)
            state.lastPacketId = id
            state.pending[id] = pending
            return (id, false)
        }
    }

    /// Tracks a delivery under a packet id it already has (a QoS 2 redelivery whose id the
    /// session store kept).
    func track(_ pending: Pending, as packetId: UInt16) {
        state.withLock { $0.pending[packetId] = pending }
    }

    func acknowledged(_ packetId: UInt16) -> Pending? {
        state.withLock { $0.pending.removeValue(forKey: packetId) }
    }
}
