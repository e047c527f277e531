import Foundation
import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("SecurityStore: users, rules, audit rows, file mode")
struct SecurityStoreTests {
    static func withStore<T>(
        bootstrap: [BootstrapCredential] = [], _ body: (SecurityStore, TransactionStateStore, String) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let transactions = try await TransactionStateStore.open(path: path, now: 1_000)
            let store = try await SecurityStore.open(path: path, bootstrap: bootstrap, nowMs: { 1_700_000_000_000 })
            do {
                let result = try await body(store, transactions, path)
                await store.close()
                try await transactions.close()
                return result
            } catch {
                await store.close()
                try? await transactions.close()
                throw error
            }
        }
    }

    @Test("creates, lists, rotates and deletes users; every change is audited without the secret")
    func users() async throws {
        try await Self.withStore { store, transactions, _ in
            let user = try await store.createUser(accessKey: "alice", secretKey: "first-secret", actor: "ops")
            #expect(user.accessKey == "alice")
            #expect(store.snapshot.users.map(\.accessKey) == ["alice"])
            await #expect(throws: SecurityError.self) {
                try await store.createUser(accessKey: "alice", secretKey: "other-secret", actor: "ops")
            }
            let before = store.snapshot.generation
            _ = try await store.updateSecret(accessKey: "alice", secretKey: "second-secret", actor: "ops")
            #expect(store.snapshot.generation > before)
            try await store.deleteUser(accessKey: "alice", actor: "ops")
            #expect(store.snapshot.users.isEmpty)
            await #expect(throws: SecurityError.self) { try await store.deleteUser(accessKey: "alice", actor: "ops") }
            let audit = try await transactions.recentAudit(limit: 10)
            #expect(audit.map(\.action) == ["user.delete", "user.secret", "user.create"])
            #expect(audit.allSatisfy { $0.actor == "ops" })
            for row in audit {
                #expect(!(row.detail ?? "").contains("secret-"), "a secret leaked into the audit log: \(row.detail ?? "")")
            }
        }
    }

    @Test("refuses bad access keys and short secrets", arguments: [("", "long-enough"), ("a b", "long-enough"), ("ok", "short")])
    func validation(accessKey: String, secret: String) async throws {
        _ = try await Self.withStore { store, _, _ in
            await #expect(throws: SecurityError.self) {
                try await store.createUser(accessKey: accessKey, secretKey: secret, actor: "ops")
            }
        }
    }

    @Test("grant merges actions into one rule; revoke removes some or all; rules go with their user")
    func rules() async throws {
        try await Self.withStore { store, _, _ in
            _ = try await store.createUser(accessKey: "bob", secretKey: "bob-secret", actor: "ops")
            let pattern = try ResourcePattern("orders.*")
            _ = try await store.grant(accessKey: "bob", kind: .topic, pattern: pattern, decision: .allow, actions: [.pub], actor: "ops")
            let merged = try await store.grant(
                accessKey: "bob", kind: .topic, pattern: pattern, decision: .allow, actions: [.sub], actor: "ops")
            #expect(merged.actions == [.pub, .sub])
            #expect(store.snapshot.rules(of: "bob").count == 1)
            let left = try await store.revoke(
                accessKey: "bob", kind: .topic, pattern: pattern, decision: .allow, actions: [.pub], actor: "ops")
            #expect(left?.actions == [.sub])
            let gone = try await store.revoke(
                accessKey: "bob", kind: .topic, pattern: pattern, decision: .allow, actions: nil, actor: "ops")
            #expect(gone == nil)
            await #expect(throws: SecurityError.self) {
                try await store.revoke(accessKey: "bob", kind: .topic, pattern: pattern, decision: .allow, actions: nil, actor: "ops")
            }
            await #expect(throws: SecurityError.self) {
                try await store.grant(accessKey: "nobody", kind: .topic, pattern: pattern, decision: .allow, actions: [.pub], actor: "ops")
            }
            _ = try await store.grant(accessKey: "bob", kind: .group, pattern: pattern, decision: .deny, actions: [.sub], actor: "ops")
            try await store.deleteUser(accessKey: "bob", actor: "ops")
            #expect(store.snapshot.allRules.isEmpty)
        }
    }

    @Test("bootstrap users get every permission once; a later start keeps the operator's changes")
    func bootstrap() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let transactions = try await TransactionStateStore.open(path: path, now: 1_000)
            let root = BootstrapCredential(accessKey: "root", secretKey: "root-secret-1")
            var store = try await SecurityStore.open(path: path, bootstrap: [root])
            #expect(store.snapshot.rules(of: "root").count == 2)
            _ = try await store.updateSecret(accessKey: "root", secretKey: "rotated-secret", actor: "ops")
            await store.close()
            store = try await SecurityStore.open(path: path, bootstrap: [root])
            #expect(store.snapshot.users.count == 1)
            let audit = try await transactions.recentAudit(limit: 10)
            #expect(audit.filter { $0.action == "user.create" }.count == 1)
            await store.close()
            try await transactions.close()
        }
    }

    @Test("the database holding the secrets is readable by its owner only (0600)")
    func fileMode() async throws {
        try await Self.withStore { store, _, path in
            _ = try await store.createUser(accessKey: "carol", secretKey: "carol-secret", actor: "ops")
            for file in [path, path + "-wal"] where FileManager.default.fileExists(atPath: file) {
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
                #expect(mode == 0o600, "\(file) has mode \(String(mode, radix: 8))")
            }
        }
    }

    @Test("bootstrap files: comments and blanks skipped, bad lines named without the secret")
    func bootstrapFile() throws {
        let parsed = try BootstrapCredential.parse("# admins\n\nroot:root-secret-1\n ops:ops-secret-22 \n", path: "f")
        #expect(parsed == [
            BootstrapCredential(accessKey: "root", secretKey: "root-secret-1"),
            BootstrapCredential(accessKey: "ops", secretKey: "ops-secret-22"),
        ])
        do {
            _ = try BootstrapCredential.parse("root:short\n", path: "f")
            Issue.record("a short secret was accepted")
        } catch {
            #expect(error.message.contains("line 1"))
            #expect(!error.message.contains("short\n"))
        }
        #expect(throws: BrokerError.self) { try BootstrapCredential.parse("no-colon-here\n", path: "f") }
    }
}
