/// Why a request was refused, with a message for the client that names what to fix (never a
/// secret, never whether a secret was close).
public struct AccessDenial: Error, Sendable, Hashable {
    /// The metric label (`sluice_auth_denials_total{reason}`) and the audit row's reason.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// No `authorization` header.
        case anonymous
        /// A header that is not `MQv2-HMAC-SHA1 Credential=…, SignedHeaders=x-mq-date-time, Signature=…`.
        case malformed
        case unknownUser = "unknown_user"
        case badSignature = "bad_signature"
        /// `x-mq-date-time` further from the broker's clock than `--auth-max-clock-skew`.
        case clockSkew = "clock_skew"
        /// Authenticated, but no rule allows the action (or a rule denies it).
        case forbidden
        /// EndTransaction from neither the half message's client nor a publisher of its topic.
        case notTransactionOwner = "not_transaction_owner"
        /// Authentication is on and the user table is not open yet.
        case notReady = "not_ready"
    }

    public var reason: Reason
    public var message: String
    /// The access key the request claimed, when it named one.
    public var accessKey: String?
    /// `topic orders`, `group billing`: what was asked for, when authorization refused it.
    public var resource: String?

    public init(_ reason: Reason, _ message: String, accessKey: String? = nil, resource: String? = nil) {
        self.reason = reason
        self.message = message
        self.accessKey = accessKey
        self.resource = resource
    }

    /// Whether the client failed to prove who it is (UNAUTHORIZED) rather than being refused
    /// something it proved it is (FORBIDDEN).
    public var isAuthentication: Bool {
        switch reason {
        case .anonymous, .malformed, .unknownUser, .badSignature, .clockSkew, .notReady: true
        case .forbidden, .notTransactionOwner: false
        }
    }
}

/// One permission a request needs: any of `actions` on the named topic or group.
public struct AccessNeed: Sendable, Hashable {
    public var actions: [AccessAction]
    public var kind: ResourceKind
    public var name: String

    public init(_ actions: [AccessAction], _ kind: ResourceKind, _ name: String) {
        self.actions = actions
        self.kind = kind
        self.name = name
    }

    public static func publish(topic: String) -> AccessNeed { AccessNeed([.pub], .topic, topic) }
    public static func subscribe(topic: String) -> AccessNeed { AccessNeed([.sub], .topic, topic) }
    public static func subscribe(group: String) -> AccessNeed { AccessNeed([.sub], .group, group) }

    public var resource: String { "\(kind) \(name)" }
}
