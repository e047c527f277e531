/// A user as the security tables hold it, whole: its secret (as stored: the HMAC check needs the
/// secret itself, so there is nothing weaker to keep), its times and every rule it has. It is
/// the unit a replicated change carries (`SecurityChange`), so applying one replaces the user
/// outright: idempotent, and the last record for an access key defines it.
public struct SecurityUserState: Sendable, Hashable {
    public var accessKey: String
    public var secretKey: String
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    /// In the tables' order (kind, pattern, decision), so equal users compare equal.
    public private(set) var rules: [AccessRule]

    public init(accessKey: String, secretKey: String, createdAtMs: Int64, updatedAtMs: Int64, rules: [AccessRule]) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs
        self.rules = rules.sorted(by: Self.tableOrder)
    }

    public var user: SecurityUser { SecurityUser(accessKey: accessKey, createdAtMs: createdAtMs, updatedAtMs: updatedAtMs) }

    /// The rule for (kind, pattern, decision), if the user has one.
    func rule(_ kind: ResourceKind, _ pattern: ResourcePattern, _ decision: AccessDecision) -> AccessRule? {
        rules.first { $0.kind == kind && $0.pattern == pattern && $0.decision == decision }
    }

    /// Puts `rule` in place of the one with its kind, pattern and decision; a rule with no
    /// action left is removed.
    mutating func replaceRule(_ rule: AccessRule) {
        rules.removeAll { $0.kind == rule.kind && $0.pattern == rule.pattern && $0.decision == rule.decision }
        if !rule.actions.isEmpty { rules = (rules + [rule]).sorted(by: Self.tableOrder) }
    }

    /// What `--bootstrap-user-file` makes of a credential: allow pub,sub,admin on every topic and group.
    static func bootstrap(_ credential: BootstrapCredential, at: Int64) -> SecurityUserState {
        SecurityUserState(
            accessKey: credential.accessKey, secretKey: credential.secretKey, createdAtMs: at, updatedAtMs: at,
            rules: ResourceKind.allCases.map { kind in
                AccessRule(
                    accessKey: credential.accessKey, kind: kind, pattern: .everything, decision: .allow,
                    actions: [.pub, .sub, .admin], createdAtMs: at)
            })
    }

    /// Byte order of the rule's key, as SQLite's `ORDER BY resource_kind, pattern, decision` sorts.
    static func tableOrder(_ lhs: AccessRule, _ rhs: AccessRule) -> Bool {
        let left = [lhs.kind.rawValue, lhs.pattern.text, lhs.decision.rawValue].map { Array($0.utf8) }
        let right = [rhs.kind.rawValue, rhs.pattern.text, rhs.decision.rawValue].map { Array($0.utf8) }
        for (a, b) in zip(left, right) where a != b { return a.lexicographicallyPrecedes(b) }
        return false
    }
}

extension ResourcePattern {
    /// `*`: every name.
    static let everything: ResourcePattern = {
        do throws(SecurityError) {
            return try ResourcePattern("*")
        } catch {
            preconditionFailure("'*' is a valid pattern: \(error)")
        }
    }()
}

/// One change of the security tables as a replicated group records it: a user saved whole, or
/// deleted with its rules. Every user operation (create, secret rotation, grant, revoke) is a
/// `save` of the user as it stands afterwards.
public enum SecurityChange: Sendable, Hashable {
    case save(SecurityUserState)
    case delete(accessKey: String)

    public var accessKey: String {
        switch self {
        case .save(let user): user.accessKey
        case .delete(let accessKey): accessKey
        }
    }
}
