import SluiceBroker
import Testing

@Suite("AccessPolicy: allow, deny (deny wins), exact names and prefixes")
struct AccessPolicyTests {
    static func rule(
        _ decision: AccessDecision, _ actions: Set<AccessAction>, _ kind: ResourceKind, _ pattern: String
    ) throws -> AccessRule {
        AccessRule(accessKey: "u", kind: kind, pattern: try ResourcePattern(pattern), decision: decision, actions: actions)
    }

    @Test("no rule: refused (default deny)")
    func defaultDeny() {
        #expect(AccessPolicy.evaluate([], action: .pub, kind: .topic, name: "orders") == .noMatchingAllow)
    }

    @Test("an exact allow allows that name and action only")
    func exactAllow() throws {
        let rules = [try Self.rule(.allow, [.pub], .topic, "orders")]
        #expect(AccessPolicy.evaluate(rules, action: .pub, kind: .topic, name: "orders") == .allowed)
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .topic, name: "orders") == .noMatchingAllow)
        #expect(AccessPolicy.evaluate(rules, action: .pub, kind: .topic, name: "orders2") == .noMatchingAllow)
        #expect(AccessPolicy.evaluate(rules, action: .pub, kind: .group, name: "orders") == .noMatchingAllow)
    }

    @Test("a prefix matches every name starting with it; '*' matches all")
    func prefixes() throws {
        let rules = [try Self.rule(.allow, [.sub], .topic, "orders.*"), try Self.rule(.allow, [.sub], .group, "*")]
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .topic, name: "orders.eu") == .allowed)
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .topic, name: "orders.") == .allowed)
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .topic, name: "orders") == .noMatchingAllow)
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .group, name: "anything") == .allowed)
    }

    @Test("a matching deny wins over any allow, even a more specific one")
    func denyWins() throws {
        let rules = [
            try Self.rule(.allow, [.pub, .sub], .topic, "orders"),
            try Self.rule(.deny, [.pub], .topic, "ord*"),
        ]
        #expect(AccessPolicy.evaluate(rules, action: .pub, kind: .topic, name: "orders") == .denied(rule: "deny pub on topic ord*"))
        #expect(AccessPolicy.evaluate(rules, action: .sub, kind: .topic, name: "orders") == .allowed)
    }

    @Test("admin covers pub and sub, in allow and in deny")
    func adminCoversAll() throws {
        let allow = [try Self.rule(.allow, [.admin], .topic, "*")]
        #expect(AccessPolicy.evaluate(allow, action: .pub, kind: .topic, name: "t") == .allowed)
        #expect(AccessPolicy.evaluate(allow, action: .sub, kind: .topic, name: "t") == .allowed)
        let deny = allow + [try Self.rule(.deny, [.admin], .topic, "secret")]
        #expect(AccessPolicy.evaluate(deny, action: .sub, kind: .topic, name: "secret") != .allowed)
    }

    @Test("patterns: '*' only at the end, not empty, no control characters", arguments: ["", "a*b", "*a", "a\u{1}b"])
    func badPatterns(text: String) {
        #expect(throws: SecurityError.self) { try ResourcePattern(text) }
    }

    @Test("actions parse from pub,sub,admin and refuse anything else")
    func actions() throws {
        #expect(try AccessAction.parseList("sub, pub") == [.pub, .sub])
        #expect(AccessAction.format([.admin, .pub]) == "pub,admin")
        #expect(throws: SecurityError.self) { try AccessAction.parseList("pub,write") }
        #expect(throws: SecurityError.self) { try AccessAction.parseList("") }
    }
}
