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
/// order. In a replicated group each change is first a record in the log
/// (`SecurityStore+Replication`, `SecurityChangeJournal`).
///
/// Open it after the transaction store, which applies the migrations.
public final class SecurityStore: Sendable {
    let executor: SQLiteExecutor
    private let current: Mutex<SecuritySnapshot>
    let nowMs: @Sendable () -> Int64
    let logger: Logger
    /// The `--bootstrap-user-file` users, which a cut log tail puts back as the file defines them.
    let bootstrap: [BootstrapCredential]
    /// User changes run one at a time: each reads the user, records the change (in a replicated
    /// group) and writes it, so the log's order is the tables' order.
    let changes = KeyedSerializer()
    /// Non-nil in a replicated group (`replicate(through:)`).
    let replication = Mutex<SecurityReplicationState?>(nil)

    private init(
        executor: SQLiteExecutor, snapshot: SecuritySnapshot, bootstrap: [BootstrapCredential],
        nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.executor = executor
        self.current = Mutex(snapshot)
        self.bootstrap = bootstrap
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
        logger: Logger = Logger(label: "sluice.security"), sharing: SQLiteExecutor? = nil
    ) async throws(SecurityError) -> SecurityStore {
        try restrictToOwner(path)
        let executor: SQLiteExecutor
        do {
            executor = try await SQLiteExecutor.open(
                path: path,
                configuration: SQLiteExecutorConfiguration(threadName: "sluice-sqlite-security", metricsLabel: "security"),
                logger: logger, sharing: sharing)
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
            return SecurityStore(executor: executor, snapshot: snapshot, bootstrap: bootstrap, nowMs: nowMs, logger: logger)
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

    /// chmod 0700 on a data folder whose commit log holds security records (a replicated
    /// group's): their secrets are then as private as the database's. A failure is logged, not
    /// fatal: the folder may belong to another user who lent it to the broker.
    public static func restrictFolderToOwner(_ directory: String, logger: Logger) {
        if chmod(directory, 0o700) != 0 {
            let code = errno
            logger.warning(
                "cannot make the data folder private (chmod 0700); its log holds user secrets",
                metadata: ["folder": "\(directory)", "error": "\(String(cString: strerror(code)))"])
        }
    }

    // MARK: users

    /// Creates a user with no rules (it can do nothing until granted).
    /// - Throws: `.invalidArgument`, `.userExists`, `.notLeader` (a follower of a replicated
    ///   group), `.storageFailure`.
    public func createUser(accessKey: String, secretKey: String, actor: String) async throws(SecurityError) -> SecurityUser {
        try SecurityCredentialRules.validateAccessKey(accessKey)
        try SecurityCredentialRules.validateSecretKey(secretKey)
        let at = nowMs()
        let created = try await changeUser(accessKey, "create user \(accessKey)") { current throws(SecurityError) in
            if current != nil { throw SecurityError(.userExists, "user \(accessKey) already exists") }
            let user = SecurityUserState(accessKey: accessKey, secretKey: secretKey, createdAtMs: at, updatedAtMs: at, rules: [])
            return UserChange(
                change: .save(user), result: user.user,
                audit: AuditEntry(actor: actor, action: "user.create", detail: "user \(accessKey)", at: at))
        }
        logger.info("user created", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
        return created
    }

    /// Replaces a user's secret (rotation); its rules stay. Clients signing with the old secret
    /// are refused from now on.
    /// - Throws: `.invalidArgument`, `.userNotFound`, `.notLeader`, `.storageFailure`.
    public func updateSecret(accessKey: String, secretKey: String, actor: String) async throws(SecurityError) -> SecurityUser {
        try SecurityCredentialRules.validateSecretKey(secretKey)
        let at = nowMs()
        let updated = try await changeUser(accessKey, "update user \(accessKey)") { current throws(SecurityError) in
            guard var user = current else { throw SecurityError(.userNotFound, "no user \(accessKey)") }
            user.secretKey = secretKey
            user.updatedAtMs = at
            return UserChange(
                change: .save(user), result: user.user,
                audit: AuditEntry(actor: actor, action: "user.secret", detail: "user \(accessKey): secret replaced", at: at))
        }
        logger.info("user secret replaced", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
        return updated
    }

    /// Deletes a user and its rules.
    /// - Throws: `.userNotFound`, `.notLeader`, `.storageFailure`.
    public func deleteUser(accessKey: String, actor: String) async throws(SecurityError) {
        let at = nowMs()
        try await changeUser(accessKey, "delete user \(accessKey)") { current throws(SecurityError) in
            guard let user = current else { throw SecurityError(.userNotFound, "no user \(accessKey)") }
            return UserChange(
                change: .delete(accessKey: accessKey), result: (),
                audit: AuditEntry(
                    actor: actor, action: "user.delete", detail: "user \(accessKey) and its \(user.rules.count) rule(s)", at: at))
        }
        logger.info("user deleted", metadata: ["user.accessKey": "\(accessKey)", "actor": "\(actor)"])
    }

    // MARK: rules

    /// Adds `actions` to the user's rule for (kind, pattern, decision), creating it if needed.
    /// - Returns: the rule as it now stands.
    /// - Throws: `.invalidArgument`, `.userNotFound`, `.notLeader`, `.storageFailure`.
    public func grant(
        accessKey: String, kind: ResourceKind, pattern: ResourcePattern, decision: AccessDecision,
        actions: Set<AccessAction>, actor: String
    ) async throws(SecurityError) -> AccessRule {
        guard !actions.isEmpty else { throw SecurityError(.invalidArgument, "actions: name at least one of pub, sub, admin") }
        let at = nowMs()
        return try await changeUser(accessKey, "grant to \(accessKey)") { current throws(SecurityError) in
            guard var user = current else {
                throw SecurityError(.userNotFound, "no user \(accessKey); create it first with `sluice user create`")
            }
            var rule = user.rule(kind, pattern, decision) ?? AccessRule(
                accessKey: accessKey, kind: kind, pattern: pattern, decision: decision, actions: [], createdAtMs: at)
            rule.actions.formUnion(actions)
            user.replaceRule(rule)
            return UserChange(
                change: .save(user), result: rule,
                audit: AuditEntry(
                    actor: actor, action: "acl.grant",
                    detail: "user \(accessKey): \(decision) \(AccessAction.format(actions)) on \(kind) \(pattern)", at: at))
        }
    }

    /// Removes `actions` (all of them when nil) from the user's rule for (kind, pattern,
    /// decision); a rule left with no action is deleted.
    /// - Returns: the rule as it now stands, nil when it is gone.
    /// - Throws: `.ruleNotFound`, `.notLeader`, `.storageFailure`.
    public func revoke(
        accessKey: String, kind: ResourceKind, pattern: ResourcePattern, decision: AccessDecision,
        actions: Set<AccessAction>?, actor: String
    ) async throws(SecurityError) -> AccessRule? {
        let at = nowMs()
        return try await changeUser(accessKey, "revoke from \(accessKey)") { current throws(SecurityError) in
            guard var user = current, var rule = user.rule(kind, pattern, decision) else {
                throw SecurityError(.ruleNotFound, "user \(accessKey) has no \(decision) rule on \(kind) \(pattern)")
            }
            rule.actions.subtract(actions ?? rule.actions)
            user.replaceRule(rule)
            let removed = actions.map(AccessAction.format) ?? "all actions"
            return UserChange(
                change: .save(user), result: rule.actions.isEmpty ? nil : rule,
                audit: AuditEntry(
                    actor: actor, action: "acl.revoke",
                    detail: "user \(accessKey): \(decision) \(removed) on \(kind) \(pattern) removed", at: at))
        }
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

    /// A change of one user: what `decide` makes of the user as it stands (nil: no such user),
    /// run one at a time. The change is recorded first in a replicated group, then written
    /// with its audit row.
    func changeUser<T: Sendable>(
        _ accessKey: String, _ what: String,
        _ decide: (SecurityUserState?) throws(SecurityError) -> UserChange<T>
    ) async throws(SecurityError) -> T {
        try await changes.run("changes") { () async throws(SecurityError) -> T in
            let current = try await userState(accessKey, what)
            let decided = try decide(current)
            if let journal = replication.withLock({ $0?.journal }) { try await journal.record(decided.change) }
            let audit = decided.audit
            try await change(what) { connection in
                try Self.write(decided.change, connection)
                try Self.audit(connection, actor: audit.actor, action: audit.action, detail: audit.detail, at: audit.at)
            }
            return decided.result
        }
    }

    /// The user `accessKey` whole, as the tables hold it now.
    /// - Throws: `.storageFailure`.
    func userState(_ accessKey: String, _ what: String) async throws(SecurityError) -> SecurityUserState? {
        do {
            return try await executor.read { connection in try Self.userState(connection, accessKey) }
        } catch {
            throw SecurityError(.storageFailure, "cannot \(what): \(error)", cause: error)
        }
    }

    /// Runs `body` as one write; reloads the snapshot in the same turn of the executor thread
    /// when `reloadWhen` says the result changed something.
    func change<T: Sendable>(
        _ what: String, reloadWhen: @escaping @Sendable (T) -> Bool = { _ in true },
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws(SecurityError) -> T {
        do {
            return try await executor.write(synced: true) { connection in
                let result = try body(connection)
                guard reloadWhen(result) else { return result }
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

    static func userExists(_ connection: SQLiteConnection, _ accessKey: String) throws -> Bool {
        try connection.queryFirst("SELECT 1 FROM security_users WHERE access_key = ?", [.text(accessKey)]) { _ in true } ?? false
    }

    /// The user whole (its rules in table order), or nil.
    static func userState(_ connection: SQLiteConnection, _ accessKey: String) throws -> SecurityUserState? {
        guard let user = try connection.queryFirst(
            "SELECT secret_key, created_at_ms, updated_at_ms FROM security_users WHERE access_key = ?", [.text(accessKey)],
            row: { row throws(SQLiteError) in (secret: row.string(at: 0), createdAt: row.int64(at: 1), updatedAt: row.int64(at: 2)) })
        else { return nil }
        let rules = try connection.query(
            """
            SELECT access_key, resource_kind, pattern, decision, actions, created_at_ms FROM security_rules
            WHERE access_key = ? ORDER BY resource_kind, pattern, decision
            """,
            [.text(accessKey)], row: Self.rule(from:))
        return SecurityUserState(
            accessKey: accessKey, secretKey: user.secret, createdAtMs: user.createdAt, updatedAtMs: user.updatedAt, rules: rules)
    }

    /// Makes the tables hold the change: a saved user replaces its row and all its rules; a
    /// deleted one goes with its rules.
    static func write(_ change: SecurityChange, _ connection: SQLiteConnection) throws {
        switch change {
        case .save(let user):
            try connection.run(
                """
                INSERT INTO security_users (access_key, secret_key, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT (access_key) DO UPDATE SET secret_key = excluded.secret_key,
                    created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms
                """,
                [.text(user.accessKey), .text(user.secretKey), .integer(user.createdAtMs), .integer(user.updatedAtMs)])
            try connection.run("DELETE FROM security_rules WHERE access_key = ?", [.text(user.accessKey)])
            for rule in user.rules {
                try connection.run(
                    "INSERT INTO security_rules (access_key, resource_kind, pattern, decision, actions, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    [.text(user.accessKey), .text(rule.kind.rawValue), .text(rule.pattern.text), .text(rule.decision.rawValue),
                     .text(AccessAction.format(rule.actions)), .integer(rule.createdAtMs)])
            }
        case .delete(let accessKey):
            try connection.run("DELETE FROM security_rules WHERE access_key = ?", [.text(accessKey)])
            try connection.run("DELETE FROM security_users WHERE access_key = ?", [.text(accessKey)])
        }
    }

    /// A bootstrap user that does not exist yet gets its secret and allow pub,sub,admin on every
    /// topic and group. An existing one is left as the operator made it (its secret included).
    static func bootstrap(_ credential: BootstrapCredential, _ connection: SQLiteConnection, at: Int64) throws {
        guard try !userExists(connection, credential.accessKey) else { return }
        try write(.save(.bootstrap(credential, at: at)), connection)
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
