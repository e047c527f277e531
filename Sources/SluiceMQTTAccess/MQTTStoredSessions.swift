import SluiceMQTTWire
import Synchronization

/// The subscriptions of clients connected with clean session 0 (§3.1.2.4), kept while they are
/// away so a reconnection resumes them without a new SUBSCRIBE. Messages sent meanwhile wait in
/// Sluice, in the session's consumer groups, which do not move while nobody reads them; so this
/// holds only filters. In memory: a broker restart forgets the sessions (not their messages).
/// Bounded in sessions; each session is bounded by the per-connection subscription limit.
final class MQTTStoredSessions: Sendable {
    static let maxSessions = 100_000

    private let sessions = Mutex<[String: [String: MQTTQoS]]>([:])

    /// Opens the client's session for a clean-session-0 connection: its stored filters, or
    /// nil when it had none before (then an empty session is stored). Throws nothing; returns
    /// `.full` past `maxSessions`.
    enum Opened {
        case resumed([String: MQTTQoS])
        case new
        case full
    }

    func open(_ clientId: String) -> Opened {
        sessions.withLock { sessions in
            if let filters = sessions[clientId] { return .resumed(filters) }
            guard sessions.count < Self.maxSessions else { return .full }
            sessions[clientId] = [:]
            return .new
        }
    }

    /// A clean session 1 connection discards any stored session (§3.1.2.4).
    func discard(_ clientId: String) {
        _ = sessions.withLock { $0.removeValue(forKey: clientId) }
    }

    func subscribed(_ clientId: String, filter: String, qos: MQTTQoS) {
        sessions.withLock { sessions in
            if sessions[clientId] != nil { sessions[clientId]?[filter] = qos }
        }
    }

    func unsubscribed(_ clientId: String, filter: String) {
        _ = sessions.withLock { $0[clientId]?.removeValue(forKey: filter) }
    }
}
