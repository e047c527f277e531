import Crypto
import Logging
import Metrics
import SluiceStorage
import Synchronization

/// Checks RocketMQ 5 credentials and access rules for the gRPC front (`--auth on`).
///
/// Authentication verifies the `MQv2-HMAC-SHA1` signature with the user's secret from the
/// in-memory `SecuritySnapshot`. A verified header (access key, date-time and signature, which
/// the client recomputes each second) is remembered in a bounded cache for the snapshot it was
/// checked under, so the many calls a client makes within one second pay for one HMAC; any user
/// or rule change starts a new snapshot and the cache is ignored. Authorization evaluates the
/// user's rules with `AccessPolicy` (a matching deny wins).
///
/// Every refusal is counted in `sluice_auth_denials_total{reason}` and handed to `DenialAudit`.
public final class AccessControl: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// `--auth on|off`.
        public var enabled: Bool
        /// `--auth-max-clock-skew`: how far `x-mq-date-time` may be from the broker's clock; nil
        /// checks nothing. The official Python client sends its *local* time with a `Z`, so the
        /// default leaves room for any UTC offset.
        public var maxClockSkew: Duration?

        public init(enabled: Bool = false, maxClockSkew: Duration? = .seconds(15 * 3600)) {
            self.enabled = enabled
            self.maxClockSkew = maxClockSkew
        }
    }

    /// How many verified headers are remembered; past it the cache starts over.
    static let cacheLimit = 4096

    private struct CachedVerification {
        var accessKey: String
        var generation: UInt64
    }

    public let configuration: Configuration
    let store: @Sendable () -> SecurityStore?
    private let cache = Mutex<[String: CachedVerification]>([:])
    let nowSeconds: @Sendable () -> Int64
    private let denials: [AccessDenial.Reason: Counter]
    private let cacheHits = Counter(label: "sluice_auth_verifications_total", dimensions: [("result", "cached")])
    private let cacheMisses = Counter(label: "sluice_auth_verifications_total", dimensions: [("result", "computed")])
    public let audit: DenialAudit

    /// - Parameter store: the open user store (nil while the broker starts).
    public init(
        configuration: Configuration, store: @escaping @Sendable () -> SecurityStore?,
        nowSeconds: @escaping @Sendable () -> Int64 = { WallClock.nowMs() / 1000 },
        audit: DenialAudit? = nil
    ) {
        self.configuration = configuration
        self.store = store
        self.nowSeconds = nowSeconds
        self.audit = audit ?? DenialAudit(store: store)
        var denials: [AccessDenial.Reason: Counter] = [:]
        for reason in AccessDenial.Reason.allCases {
            denials[reason] = Counter(label: "sluice_auth_denials_total", dimensions: [("reason", reason.rawValue)])
        }
        self.denials = denials
    }

    /// A checker that lets everything through (`--auth off`).
    public static let disabled = AccessControl(configuration: Configuration(enabled: false), store: { nil })

    public var isEnabled: Bool { configuration.enabled }

    /// Who signed the request: the access key, or nil when authentication is off.
    /// - Throws: `AccessDenial` with an authentication reason.
    public func authenticate(authorization: String?, dateTime: String?) throws(AccessDenial) -> String? {
        guard configuration.enabled else { return nil }
        let anonymous = AccessDenial(
            .anonymous,
            "authentication is required: sign requests with an access key and secret key (the client's Credentials(ak, sk))")
        guard let authorization, !authorization.isEmpty else { throw anonymous }
        guard let store = store() else {
            throw AccessDenial(.notReady, "the broker is still starting (opening its user table); retry shortly")
        }
        let snapshot = store.snapshot
        // The hot path: this exact header and date-time, verified before under this user table.
        let cacheKey = (dateTime ?? "") + "\n" + authorization
        if let cached = cache.withLock({ $0[cacheKey] }), cached.generation == snapshot.generation {
            try checkSkew(dateTime ?? "", accessKey: cached.accessKey)
            cacheHits.increment()
            return cached.accessKey
        }
        let request: SignedRequest
        do throws(SignedRequest.Malformed) {
            request = try SignedRequest.parse(authorization: authorization, dateTime: dateTime)
        } catch {
            throw error.isAnonymous ? anonymous : AccessDenial(.malformed, error.message)
        }
        try checkSkew(request.dateTime, accessKey: request.accessKey)
        cacheMisses.increment()
        guard let key = snapshot.key(of: request.accessKey) else {
            throw AccessDenial(.unknownUser, "unknown access key \(request.accessKey)", accessKey: request.accessKey)
        }
        guard request.isSigned(with: key) else {
            throw AccessDenial(
                .badSignature, "the signature does not match access key \(request.accessKey)'s secret key",
                accessKey: request.accessKey)
        }
        cache.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[cacheKey] = CachedVerification(accessKey: request.accessKey, generation: snapshot.generation)
        }
        return request.accessKey
    }

    /// - Throws: `.malformed` for a date-time of another shape, `.clockSkew` past the limit.
    private func checkSkew(_ dateTime: String, accessKey: String) throws(AccessDenial) {
        guard let skew = configuration.maxClockSkew else { return }
        guard let seconds = SignedRequest.epochSeconds(of: dateTime) else {
            throw AccessDenial(.malformed, "x-mq-date-time '\(dateTime.prefix(32))' is not yyyyMMddTHHmmssZ", accessKey: accessKey)
        }
        // Both sides are small (dates parse to 4-digit years): no overflow.
        guard abs(seconds - nowSeconds()) <= skew.components.seconds else {
            throw AccessDenial(
                .clockSkew,
                "x-mq-date-time \(dateTime) is more than \(DurationText.format(skew)) from the broker's clock; "
                    + "check the client's clock", accessKey: accessKey)
        }
    }

    /// Whether `accessKey` may do what `needs` lists (each need: any of its actions).
    /// - Throws: `AccessDenial.forbidden` naming the first refused resource and why.
    public func authorize(accessKey: String?, _ needs: [AccessNeed]) throws(AccessDenial) {
        guard configuration.enabled, let accessKey else { return }
        guard let store = store() else {
            throw AccessDenial(.notReady, "the broker is still starting (opening its user table); retry shortly")
        }
        let rules = store.snapshot.rules(of: accessKey)
        for need in needs {
            var refusal = "no rule allows it"
            var allowed = false
            for action in need.actions {
                switch AccessPolicy.evaluate(rules, action: action, kind: need.kind, name: need.name) {
                case .allowed: allowed = true
                case .denied(let rule): refusal = "denied by rule '\(rule)'"
                case .noMatchingAllow: break
                }
                if allowed { break }
            }
            guard allowed else {
                let actions = need.actions.map(\.rawValue).joined(separator: " or ")
                throw AccessDenial(
                    .forbidden, "user \(accessKey) may not \(actions) on \(need.resource): \(refusal)",
                    accessKey: accessKey, resource: need.resource)
            }
        }
    }

    /// Whether the user may do `action` on the resource, without counting a denial.
    public func allows(accessKey: String, _ need: AccessNeed) -> Bool {
        do throws(AccessDenial) {
            try authorize(accessKey: accessKey, [need])
            return true
        } catch {
            return false
        }
    }

    /// Counts a refusal and writes it to the audit log (rate-limited, see `DenialAudit`).
    public func record(_ denial: AccessDenial, call: String, client: String) async {
        denials[denial.reason]?.increment()
        await audit.record(denial, call: call, client: client)
    }
}

/// `15h`, `90s`: a duration as the flags spell it, for messages.
enum DurationText {
    static func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
