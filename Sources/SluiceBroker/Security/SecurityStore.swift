import Crypto
import Logging
import SluiceStorage
import SluiceTransactions
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Users and access rules (`security_users`, `security_rules` in `transactions.sqlite`, migration
/// 0005) behind an in-memory `SecuritySnapshot`, so a request check never waits for SQLite.
///
/// The database file holds the secrets in clear (HMAC verification needs them), so `open`
/// restricts it and its WAL files to the broker's user (mode 0600). Every change is written
/// together with its `audit_log` row in one SQLite transaction, then the snapshot is reloaded on
/// the executor thread, where writes run one at a time, so snapshots replace each other in commit
/// order.
///
/// Open it after the transaction store, which applies the migrations.
public final class SecurityStore: Sendable {
    private let executor: SQLiteExecutor
    private let current: Mutex<SecuritySnapshot>
    private let nowMs: @Sendable () -> Int64
    private let logger: Logger

    private init(executor: SQLiteExecutor, snapshot: SecuritySnapshot, nowMs: @escaping @Sendable () -> Int64, logger: Logger) {
        self.executor = executor
        self.current = Mutex(snapshot)
        self.nowMs = nowMs
        self.logger = logger
    }

    /// The users and rules now in force.
    public var snapshot: SecuritySnapshot { current.withLock { $0 } }

    /// Opens the (migrated) database at `path`, makes it private to this user, creates the
    /// `bootstrap` users that do not exist yet with every permission, and loads everything.
    ///
    /// - Throws: `SecurityError` `.storageFailure` when the file cannot be opened, restricted or read.
    public static func open(
        path: String, bootstrap: [BootstrapCredential] = [], nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.security")
    ) async throws(SecurityError) -> SecurityStore {
        try restrictToOwner(path)
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-security", metricsLabel: "security"),
                logger: logger)
        } catch {
            throw SecurityError(.storageFailure, "cannot open the security tables in \(path): \(error)", cause: error)
        }
        do {
            let snapshot = try await executor.write(synced: true) { connection in
                for credential in bootstrap {
                    try Self.bootstrap(credential, connection, at: nowMs())
                }
                return try Self.load(connection, generation: 1)
            }
            // SQLite may have created the WAL files just now, with the mode of the database.
            try restrictToOwner(path)
            if !bootstrap.isEmpty {
                logger.info("bootstrap users present", metadata: ["users.count": "\(bootstrap.count)"])
            }
            return SecurityStore(executor: executor, snapshot: snapshot, nowMs: nowMs, logger: logger)
        } catch {
            try? await executor.close()
            if let error = error as? SecurityError { throw error }
            throw SecurityError(.storageFailure, "cannot read the security tables in \(path): \(error)", cause: error)
        }
    }

    public func close() async {
        do {
            try await executor.close()
        } catch {
            logger.warning("cannot close the security tables", metadata: ["error": "\(error)"])
        }
    }

    /// chmod 0600 on the database and its `-wal` and `-shm` files (those that exist).
    /// - Throws: `.storageFailure` naming the file and errno.
    static func restrictToOwner(_ path: String) throws(SecurityError) {
        for file in [path, path + "-wal", path + "-shm"] {
            if chmod(file, 0o600) != 0, errno != ENOENT {
                let code = errno
                throw SecurityError(
                    .storageFailure, "cannot make \(file) private (chmod 0600): \(String(cString: strerror(code)))")
            }
        }
    }

    // MARK: users

    /// Creates a user with no rules (it can do nothing until granted).
    /// - Throws: `.invalidArgument`, `.userExists`, `.storageFailure`.
    public func createUser(accessKey: String, secretKey: String, actor: String) async throws(SecurityError) -> SecurityUser {
        try SecurityCredentialRules.validateAccessKey(accessKey)
        try SecurityCredentialRules.validateSecretKey(secretKey)
        let at = nowMs()
        let created = try await change("create user \(accessKey)") { connection -> SecurityUser? in
            if try Self.userExists(connection, accessKey) { return nil }
            try connection.run(
                "INSERT INTO security_users (access_key, secret_key, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?)",
                [.text(accessKey), .text(secretKey), .integer(at), .integer(at)])
            try Self.audit(connection, actor: actor, action: "user.create", detail: "user \(accessKey)", at: at)
            return SecurityUser(accessKey: accessKey, createdAtMs: at, updatedAtMs: at)
        }
        guard let created else { throw SecurityError(.userExists, "user \(accessKey) already exists") }
        logger.info("user created", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
        return created
    }

    /// Replaces a user's secret (rotation); its rules stay. Clients signing with the old secret
    /// are refused from now on.
    /// - Throws: `.invalidArgument`, `.userNotFound`, `.storageFailure`.
    public func updateSecret(accessKey: String, secretKey: String, actor: String) async throws(SecurityError) -> SecurityUser {
        try SecurityCredentialRules.validateSecretKey(secretKey)
        let at = nowMs()
        let updated = try await change("update user \(accessKey)") { connection -> SecurityUser? in
            guard try connection.run(
                "UPDATE security_users SET secret_key = ?, updated_at_ms = ? WHERE access_key = ?",
                [.text(secretKey), .integer(at), .text(accessKey)]) > 0
            else { return nil }
            try Self.audit(connection, actor: actor, action: "user.secret", detail: "user \(accessKey): secret replaced", at: at)
            return try connection.queryFirst(
                "SELECT access_key, created_at_ms, updated_at_ms FROM security_users WHERE access_key = ?", [.text(accessKey)]
            ) { row in SecurityUser(accessKey: row.string(at: 0), createdAtMs: row.int64(at: 1), updatedAtMs: row.int64(at: 2)) }
        }
        guard let updated else { throw SecurityError(.userNotFound, "no user \(accessKey)") }
        logger.info("user secret replaced", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
        return updated
    }

    /// Deletes a user and its rules.
    /// - Throws: `.userNotFound`, `.storageFailure`.
    public func deleteUser(accessKey: String, actor: String) async throws(SecurityError) {
        let at = nowMs()
        let deleted = try await change("delete user \(accessKey)") { connection -> Bool in
            let rules = try connection.run("DELETE FROM security_rules WHERE access_key = ?", [.text(accessKey)])
            guard try connection.run("DELETE FROM security_users WHERE access_key = ?", [.text(accessKey)]) > 0 else {
                return false
            }
            try Self.audit(
                connection, actor: actor, action: "user.delete", detail: "user \(accessKey) and its \(rules) rule(s)", at: at)
            return true
        }
        guard deleted else { throw SecurityError(.userNotFound, "no user \(accessKey)") }
        logger.info("user deleted", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
    }

    // MARK: rules

    /// Adds `actions` to the user's rule for (kind, pattern, decision), creating it if needed.
    /// - Returns: the rule as it now stands.
    /// - Throws: `.invalidArgument`, `.userNotFound`, `.storageFailure`.
    public func grant(
        accessKey: String, kind: ResourceKind, pattern: ResourcePattern, decision: AccessDecision,
        actions: Set<AccessAction>, actor: String
    ) async throws(SecurityError) -> AccessRule {
        guard !actions.isEmpty else { throw SecurityError(.invalidArgument, "actions: name at least one of pub, sub, admin") }
        let at = nowMs()
        let rule = try await change("grant to \(accessKey)") { connection -> AccessRule? in
            guard try Self.userExists(connection, accessKey) else { return nil }
            let existing = try Self.rule(connection, accessKey, kind, pattern, decision)
            var rule = existing ?? AccessRule(
                accessKey: accessKey, kind: kind, pattern: pattern, decision: decision, actions: [], createdAtMs: at)
            rule.actions.formUnion(actions)
            try connection.run(
                """
                INSERT INTO security_rules (access_key, resource_kind, pattern, decision, actions, created_at_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (access_key, resource_kind, pattern, decision) DO UPDATE SET actions = excluded.actions
                """,
                [.text(accessKey), .text(kind.rawValue), .text(pattern.text), .text(decision.rawValue),
                 .text(AccessAction.format(rule.actions)), .integer(rule.createdAtMs)])
            try Self.audit(
                connection, actor: actor, action: "acl.grant",
                detail: "user \(accessKey): \(decision) \(AccessAction.format(actions)) on \(kind) \(pattern)", at: at)
            return rule
        }
        guard let rule else { throw SecurityError(.userNotFound, "no user \(accessKey); create it first with `sluice user create`") }
        return rule
    }

    /// Removes `actions` (all of them when nil) from the user's rule for (kind, pattern,
    /// decision); a rule left with no action is deleted.
    /// - Returns: the rule as it now stands, nil when it is gone.
    /// - Throws: `.ruleNotFound`, `.storageFailure`.
    public func revoke(
        accessKey: String, kind: ResourceKind, pattern: ResourcePattern, decision: AccessDecision,
        actions: Set<AccessAction>?, actor: String
    ) async throws(SecurityError) -> AccessRule? {
        let at = nowMs()
        let result = try await change("revoke from \(accessKey)") { connection -> (found: Bool, rule: AccessRule?) in
            guard var rule = try Self.rule(connection, accessKey, kind, pattern, decision) else { return (false, nil) }
            rule.actions.subtract(actions ?? rule.actions)
            if rule.actions.isEmpty {
                try connection.run(
                    "DELETE FROM security_rules WHERE access_key = ? AND resource_kind = ? AND pattern = ? AND decision = ?",
                    [.text(accessKey), .text(kind.rawValue), .text(pattern.text), .text(decision.rawValue)])
            } else {
                try connection.run(
                    "UPDATE security_rules SET actions = ? WHERE access_key = ? AND resource_kind = ? AND pattern = ? AND decision = ?",
                    [.text(AccessAction.format(rule.actions)), .text(accessKey), .text(kind.rawValue), .text(pattern.text),
                     .text(decision.rawValue)])
            }
            let removed = actions.map(AccessAction.format) ?? "all actions"
            try Self.audit(
                connection, actor: actor, action: "acl.revoke",
                detail: "user \(accessKey): \(decision) \(removed) on \(kind) \(pattern) removed", at: at)
            return (true, rule.actions.isEmpty ? nil : rule)
        }
        guard result.found else {
            throw SecurityError(.ruleNotFound, "user \(accessKey) has no \(decision) rule on \(kind) \(pattern)")
        }
        return result.rule
    }

    // MARK: audit

    /// Writes one `audit_log` row (a refused request, say) that concerns no transaction.
    /// - Throws: `.storageFailure`.
    public func recordAudit(actor: String, action: String, detail: String, reason: String?) async throws(SecurityError) {
        let at = nowMs()
        do {
            try await executor.write(synced: true) { connection in
                try Self.audit(connection, actor: actor, action: action, detail: detail, reason: reason, at: at)
            }
        } catch {
            throw SecurityError(.storageFailure, "cannot write the audit log: \(error)", cause: error)
        }
    }

    // MARK: inside the executor

    /// Runs `body` as one write, reloads the snapshot in the same turn of the executor thread.
    private func change<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(SecurityError) -> T {
        do {
            return try await executor.write(synced: true) { connection in
                let result = try body(connection)
                let generation = self.current.withLock { $0.generation } + 1
                let snapshot = try Self.load(connection, generation: generation)
                self.current.withLock { $0 = snapshot }
                return result
            }
        } catch let error as SecurityError {
            throw error
        } catch {
            throw SecurityError(.storageFailure, "cannot \(what): \(error)", cause: error)
        }
    }

    static func load(_ connection: SQLiteConnection, generation: UInt64) throws -> SecuritySnapshot {
        var snapshot = SecuritySnapshot()
        snapshot.generation = generation
        let users = try connection.query(
            "SELECT access_key, secret_key, created_at_ms, updated_at_ms FROM security_users"
        ) { row throws(SQLiteError) in
            (SecurityUser(accessKey: row.string(at: 0), createdAtMs: row.int64(at: 2), updatedAtMs: row.int64(at: 3)),
             row.string(at: 1))
        }
        for (user, secret) in users {
            snapshot.credentials[user.accessKey] = SecuritySnapshot.Credential(
                user: user, key: SymmetricKey(data: Array(secret.utf8)))
        }
        for rule in try connection.query(
            "SELECT access_key, resource_kind, pattern, decision, actions, created_at_ms FROM security_rules ORDER BY access_key, resource_kind, pattern, decision",
            row: Self.rule(from:))
        {
            snapshot.rules[rule.accessKey, default: []].append(rule)
        }
        return snapshot
    }

    static func rule(from row: SQLiteStatement) throws(SQLiteError) -> AccessRule {
        guard let kind = ResourceKind(rawValue: row.string(at: 1)), let decision = AccessDecision(rawValue: row.string(at: 3))
        else {
            throw SQLiteError(code: .constraint, message: "security_rules holds an unknown kind or decision (edited by hand?)")
        }
        do throws(SecurityError) {
            return AccessRule(
                accessKey: row.string(at: 0), kind: kind, pattern: try ResourcePattern(row.string(at: 2)),
                decision: decision, actions: try AccessAction.parseList(row.string(at: 4)), createdAtMs: row.int64(at: 5))
        } catch {
            throw SQLiteError(code: .constraint, message: "security_rules holds a bad rule: \(error.message)")
        }
    }

    static func rule(
        _ connection: SQLiteConnection, _ accessKey: String, _ kind: ResourceKind, _ pattern: ResourcePattern,
        _ decision: AccessDecision
    ) throws -> AccessRule? {
        try connection.queryFirst(
            """
            SELECT access_key, resource_kind, pattern, decision, actions, created_at_ms FROM security_rules
            WHERE access_key = ? AND resource_kind = ? AND pattern = ? AND decision = ?
            """,
            [.text(accessKey), .text(kind.rawValue), .text(pattern.text), .text(decision.rawValue)], row: Self.rule(from:))
    }

    static func userExists(_ connection: SQLiteConnection, _ accessKey: String) throws -> Bool {
        try connection.queryFirst("SELECT 1 FROM security_users WHERE access_key = ?", [.text(accessKey)]) { _ in true } ?? false
    }

    /// A bootstrap user that does not exist yet gets its secret and allow pub,sub,admin on every
    /// topic and group. An existing one is left as the operator made it (its secret included).
    static func bootstrap(_ credential: BootstrapCredential, _ connection: SQLiteConnection, at: Int64) throws {
        guard try !userExists(connection, credential.accessKey) else { return }
        try connection.run(
            "INSERT INTO security_users (access_key, secret_key, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?)",
            [.text(credential.accessKey), .text(credential.secretKey), .integer(at), .integer(at)])
        for kind in ResourceKind.allCases {
            try connection.run(
                "INSERT INTO security_rules (access_key, resource_kind, pattern, decision, actions, created_at_ms) VALUES (?, ?, '*', 'allow', 'pub,sub,admin', ?)",
                [.text(credential.accessKey), .text(kind.rawValue), .integer(at)])
        }
        try audit(
            connection, actor: "bootstrap", action: "user.create",
            detail: "user \(credential.accessKey) with every permission (--bootstrap-user-file)", at: at)
    }

    static func audit(
        _ connection: SQLiteConnection, actor: String, action: String, detail: String, reason: String? = nil, at: Int64
    ) throws {
        try connection.run(
            "INSERT INTO audit_log (at_ms, actor, action, transaction_id, detail, reason) VALUES (?, ?, ?, NULL, ?, ?)",
            [.integer(at), .text(actor), .text(action), .text(detail), .text(reason)])
    }
}
