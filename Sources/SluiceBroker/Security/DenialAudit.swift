import Logging
import Metrics
import SluiceStorage
import Synchronization

/// Writes refused requests to the audit log without letting a flood of them fill the database.
///
/// Each refusal is keyed by (reason, user, resource, call). The first of a key is written; the
/// same key again within `window` is only counted, and the count goes into the next row written
/// for that key. On top of that a token bucket caps rows at `ratePerSecond` (burst `burst`):
/// refusals past it are counted in `sluice_auth_denials_unaudited_total` (and always in
/// `sluice_auth_denials_total`), never written. So a hostile client can cost at most
/// `ratePerSecond` small rows a second, whatever it sends.
public final class DenialAudit: Sendable {
    public struct Limits: Sendable {
        public var window: Duration = .seconds(60)
        public var ratePerSecond: Double = 10
        public var burst: Double = 50
        /// Keys remembered for de-duplication; past it the memory starts over.
        public var keyLimit = 10_000
        public init() {}
    }

    private struct State {
        var lastWrittenMs: [String: Int64] = [:]
        var suppressed: [String: Int] = [:]
        var tokens: Double
        var tokensAtMs: Int64 = 0
    }

    private let store: @Sendable () -> SecurityStore?
    private let limits: Limits
    private let nowMs: @Sendable () -> Int64
    private let state: Mutex<State>
    private let unaudited = Counter(label: "sluice_auth_denials_unaudited_total")
    private let logger = Logger(label: "sluice.security")

    public init(
        store: @escaping @Sendable () -> SecurityStore?, limits: Limits = Limits(),
        nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }
    ) {
        self.store = store
        self.limits = limits
        self.nowMs = nowMs
        self.state = Mutex(State(tokens: limits.burst))
    }

    /// The row to write for this refusal, or nil when it is only counted.
    func admit(_ key: String) -> Int? {
        let now = nowMs()
        let windowMs = limits.window.components.seconds * 1000
        return state.withLock { state -> Int? in
            if let last = state.lastWrittenMs[key], now - last < windowMs {
                state.suppressed[key, default: 0] += 1
                return nil
            }
            let elapsed = Double(max(0, now - state.tokensAtMs)) / 1000
            state.tokens = min(limits.burst, state.tokens + elapsed * limits.ratePerSecond)
            state.tokensAtMs = now
            guard state.tokens >= 1 else { return nil }
            state.tokens -= 1
            if state.lastWrittenMs.count >= limits.keyLimit {
                state.lastWrittenMs.removeAll(keepingCapacity: true)
                state.suppressed.removeAll(keepingCapacity: true)
            }
            state.lastWrittenMs[key] = now
            return state.suppressed.removeValue(forKey: key) ?? 0
        }
    }

    public func record(_ denial: AccessDenial, call: String, client: String) async {
        let actor = denial.accessKey ?? "anonymous"
        let key = "\(denial.reason.rawValue)|\(actor)|\(denial.resource ?? "")|\(call)"
        guard let repeated = admit(key) else {
            unaudited.increment()
            return
        }
        guard let store = store() else { return }
        var detail = "\(call) from client \(client.isEmpty ? "(no client id)" : client)"
        if let resource = denial.resource { detail += " on \(resource)" }
        detail += ": \(denial.message)"
        if repeated > 0 { detail += " (and \(repeated) more like it before this one)" }
        let action = denial.isAuthentication ? "auth.refused" : "access.denied"
        do throws(SecurityError) {
            try await store.recordAudit(actor: actor, action: action, detail: detail, reason: denial.reason.rawValue)
        } catch {
            logger.warning("cannot audit a refused request", metadata: ["error": "\(error)"])
        }
    }
}
