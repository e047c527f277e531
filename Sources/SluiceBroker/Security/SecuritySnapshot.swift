import Crypto

/// A user as the admin API shows it: never with its secret.
public struct SecurityUser: Sendable, Hashable {
    public var accessKey: String
    public var createdAtMs: Int64
    public var updatedAtMs: Int64

    public init(accessKey: String, createdAtMs: Int64, updatedAtMs: Int64) {
        self.accessKey = accessKey
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs
    }
}

/// Every user and rule, held in memory so that checking a request touches no database: loaded
/// when the store opens and replaced after each change. `generation` grows with every
/// replacement, so a cached verification made under an older snapshot is not trusted.
public struct SecuritySnapshot: Sendable {
    struct Credential: Sendable {
        var user: SecurityUser
        /// The secret as an HMAC key; the secret text itself is not kept.
        var key: SymmetricKey
    }

    var credentials: [String: Credential] = [:]
    var rules: [String: [AccessRule]] = [:]
    public internal(set) var generation: UInt64 = 0

    public init() {}

    public var users: [SecurityUser] { credentials.values.map(\.user).sorted { $0.accessKey < $1.accessKey } }

    public func rules(of accessKey: String) -> [AccessRule] { rules[accessKey] ?? [] }

    public var allRules: [AccessRule] {
        rules.keys.sorted().flatMap { rules[$0] ?? [] }
    }

    func key(of accessKey: String) -> SymmetricKey? { credentials[accessKey]?.key }
}
