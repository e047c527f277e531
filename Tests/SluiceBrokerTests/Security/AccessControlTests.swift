import Foundation
import SluiceBroker
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

@Suite("AccessControl: authentication, skew, cache, authorization, audited denials")
struct AccessControlTests {
    static let now: Int64 = 1_796_406_143  // 20261204T174223Z
    static let dateTime = "20261204T174223Z"

    static func header(_ accessKey: String, _ secret: String, _ dateTime: String = dateTime) -> String {
        "MQv2-HMAC-SHA1 Credential=\(accessKey), SignedHeaders=x-mq-date-time, Signature="
            + SignedRequest.sign(secret: secret, dateTime: dateTime)
    }

    static func withControl<T>(
        skew: Duration? = .seconds(900), _ body: (AccessControl, SecurityStore, TransactionStateStore) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory in
            let path = directory + "/transactions.sqlite"
            let transactions = try await TransactionStateStore.open(path: path, now: 1_000)
            let store = try await SecurityStore.open(path: path)
            _ = try await store.createUser(accessKey: "alice", secretKey: "alice-secret", actor: "test")
            let control = AccessControl(
                configuration: .init(enabled: true, maxClockSkew: skew), store: { store }, nowSeconds: { now })
            do {
                let result = try await body(control, store, transactions)
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

    static func reason(_ body: () throws -> Void) -> AccessDenial.Reason? {
        do {
            try body()
            return nil
        } catch {
            return (error as? AccessDenial)?.reason
        }
    }

    @Test("the right secret authenticates; anonymous, unknown, wrong secret and malformed do not")
    func authentication() async throws {
        try await Self.withControl { control, _, _ async throws in
            #expect(try control.authenticate(authorization: Self.header("alice", "alice-secret"), dateTime: Self.dateTime) == "alice")
            #expect(Self.reason { _ = try control.authenticate(authorization: nil, dateTime: nil) } == .anonymous)
            #expect(Self.reason { _ = try control.authenticate(authorization: Self.header("mallory", "x-secret-1"), dateTime: Self.dateTime) } == .unknownUser)
            #expect(Self.reason { _ = try control.authenticate(authorization: Self.header("alice", "wrong-secret"), dateTime: Self.dateTime) } == .badSignature)
            #expect(Self.reason { _ = try control.authenticate(authorization: "MQv2-HMAC-SHA1 junk", dateTime: Self.dateTime) } == .malformed)
        }
    }

    @Test("a date-time further than the allowed skew is refused; nil skew checks nothing")
    func skew() async throws {
        let old = "20261204T160000Z"
        try await Self.withControl { control, _, _ async throws in
            #expect(Self.reason { _ = try control.authenticate(authorization: Self.header("alice", "alice-secret", old), dateTime: old) } == .clockSkew)
        }
        try await Self.withControl(skew: nil) { control, _, _ async throws in
            #expect(try control.authenticate(authorization: Self.header("alice", "alice-secret", old), dateTime: old) == "alice")
        }
    }

    @Test("a cached verification is dropped when the secret is rotated")
    func cacheFollowsRotation() async throws {
        try await Self.withControl { control, store, _ in
            let header = Self.header("alice", "alice-secret")
            #expect(try control.authenticate(authorization: header, dateTime: Self.dateTime) == "alice")
            #expect(try control.authenticate(authorization: header, dateTime: Self.dateTime) == "alice")
            _ = try await store.updateSecret(accessKey: "alice", secretKey: "new-secret-1", actor: "test")
            #expect(Self.reason { _ = try control.authenticate(authorization: header, dateTime: Self.dateTime) } == .badSignature)
        }
    }

    @Test("authorization follows the user's rules; a refusal names user, action and resource")
    func authorization() async throws {
        try await Self.withControl { control, store, _ in
            _ = try await store.grant(
                accessKey: "alice", kind: .topic, pattern: try ResourcePattern("orders*"), decision: .allow, actions: [.pub],
                actor: "test")
            try control.authorize(accessKey: "alice", [.publish(topic: "orders-eu")])
            do throws(AccessDenial) {
                try control.authorize(accessKey: "alice", [.subscribe(topic: "orders-eu")])
                Issue.record("sub was allowed")
            } catch {
                #expect(error.reason == .forbidden)
                #expect(error.message.contains("alice") && error.message.contains("sub") && error.message.contains("topic orders-eu"))
            }
            #expect(control.allows(accessKey: "alice", AccessNeed([.pub, .sub], .topic, "orders")))
        }
    }

    @Test("denials are audited, repeats coalesced, and the rate capped")
    func auditedDenials() async throws {
        try await Self.withControl { control, store, transactions in
            let clock = Mutex<Int64>(0)
            var limits = DenialAudit.Limits()
            limits.ratePerSecond = 1
            limits.burst = 2
            let audit = DenialAudit(store: { store }, limits: limits, nowMs: { clock.withLock { $0 } })
            let denial = AccessDenial(.forbidden, "user alice may not sub on topic t", accessKey: "alice", resource: "topic t")
            for _ in 0..<5 { await audit.record(denial, call: "ReceiveMessage", client: "c1") }
            let other = AccessDenial(.badSignature, "bad", accessKey: "eve")
            await audit.record(other, call: "SendMessage", client: "c2")
            await audit.record(AccessDenial(.anonymous, "anon"), call: "SendMessage", client: "c3")
            let rows = try await transactions.recentAudit(limit: 20).filter { $0.action != "user.create" }
            // Burst of 2: the first alice row and eve's row; the anonymous one is over the rate.
            #expect(rows.count == 2)
            #expect(rows.contains { $0.actor == "alice" && $0.action == "access.denied" && ($0.detail ?? "").contains("topic t") })
            #expect(rows.contains { $0.actor == "eve" && $0.action == "auth.refused" && $0.reason == "bad_signature" })
            // After the window, the next alice row says how many were folded into it.
            clock.withLock { $0 = 120_000 }
            await audit.record(denial, call: "ReceiveMessage", client: "c1")
            let latest = try await transactions.recentAudit(limit: 1)
            #expect((latest.first?.detail ?? "").contains("4 more"))
            _ = control
        }
    }
}
