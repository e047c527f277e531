/// Decides whether a user's rules let it perform an action on a named topic or group.
///
/// Like RocketMQ 5's ACL 2.0 (`DefaultAuthorizationStrategy`) every rule of the user whose
/// pattern matches the name is considered; unlike it, precedence does not go to the most
/// specific pattern: **a matching deny always wins**, so a broad `deny` cannot be undone by a
/// narrower `allow` by mistake. No matching allow means no access (default deny).
public enum AccessPolicy {
    public enum Verdict: Sendable, Hashable {
        case allowed
        /// A deny rule matched; its summary names it.
        case denied(rule: String)
        /// No allow rule matched.
        case noMatchingAllow
    }

    public static func evaluate(
        _ rules: [AccessRule], action: AccessAction, kind: ResourceKind, name: String
    ) -> Verdict {
        var allowed = false
        // The name test first: it rejects most rules, and is cheaper than the set lookups.
        for rule in rules where rule.kind == kind && rule.pattern.matches(name) && rule.covers(action) {
            switch rule.decision {
            case .deny: return .denied(rule: rule.summary)
            case .allow: allowed = true
            }
        }
        return allowed ? .allowed : .noMatchingAllow
    }
}
