import Foundation

/// What a request wants to do to a topic or a consumer group, as RocketMQ 5's ACL 2.0 names it
/// (`Pub`, `Sub`; `admin` plays the part of its `All`).
public enum AccessAction: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Send messages to a topic (SendMessage, EndTransaction, a producer's settings).
    case pub
    /// Receive from a topic, or consume as a group (Receive, Ack, offsets, a consumer's settings).
    case sub
    /// Every action on the resource, those above and any added later.
    case admin

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Parses `pub,sub,admin` (any order, no repeats needed).
    /// - Throws: `SecurityError.invalidArgument` naming the unknown action.
    public static func parseList(_ text: String) throws(SecurityError) -> Set<AccessAction> {
        var actions: Set<AccessAction> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let action = AccessAction(rawValue: name) else {
                throw SecurityError(.invalidArgument, "unknown action '\(part)'; expected pub, sub or admin")
            }
            actions.insert(action)
        }
        guard !actions.isEmpty else { throw SecurityError(.invalidArgument, "actions: name at least one of pub, sub, admin") }
        return actions
    }

    /// `pub,sub,admin` order, comma-separated: the stored and printed form.
    public static func format(_ actions: Set<AccessAction>) -> String {
        actions.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// The two kinds of resource a rule names.
public enum ResourceKind: String, Sendable, Hashable, CaseIterable {
    case topic, group
}

public enum AccessDecision: String, Sendable, Hashable {
    case allow, deny
}

/// A resource name or, ending in `*`, every name starting with the text before it (`orders.*`;
/// a lone `*` matches everything), like ACL 2.0's LITERAL and PREFIXED patterns.
public struct ResourcePattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    /// Computed once: every request evaluates every rule of its user.
    public let isPrefix: Bool
    private let literal: String

    /// The longest pattern kept (RocketMQ topic names are at most 127 characters; groups 255).
    public static let maximumBytes = 256

    /// - Throws: `SecurityError.invalidArgument` for an empty or oversized pattern, a `*`
    ///   anywhere but at the end, or a control character.
    public init(_ text: String) throws(SecurityError) {
        guard !text.isEmpty else { throw SecurityError(.invalidArgument, "the resource name is empty") }
        guard text.utf8.count <= Self.maximumBytes else {
            throw SecurityError(.invalidArgument, "resource '\(text.prefix(40))…' is \(text.utf8.count) bytes; limit \(Self.maximumBytes)")
        }
        guard !text.dropLast().contains("*") else {
            throw SecurityError(.invalidArgument, "resource '\(text)': '*' may only end a prefix, as in orders.*")
        }
        guard text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw SecurityError(.invalidArgument, "resource names must not contain control characters")
        }
        self.text = text
        isPrefix = text.hasSuffix("*")
        literal = isPrefix ? String(text.dropLast()) : text
    }

    public func matches(_ name: String) -> Bool {
        isPrefix ? name.utf8.starts(with: literal.utf8) : name == literal
    }

    public var description: String { text }
}

/// One row of `security_rules`: a user's allow or deny of some actions on matching resources.
public struct AccessRule: Sendable, Hashable {
    public var accessKey: String
    public var kind: ResourceKind
    public var pattern: ResourcePattern
    public var decision: AccessDecision
    public var actions: Set<AccessAction>
    public var createdAtMs: Int64

    public init(
        accessKey: String, kind: ResourceKind, pattern: ResourcePattern, decision: AccessDecision,
        actions: Set<AccessAction>, createdAtMs: Int64 = 0
    ) {
        self.accessKey = accessKey
        self.kind = kind
        self.pattern = pattern
        self.decision = decision
        self.actions = actions
        self.createdAtMs = createdAtMs
    }

    /// Whether this rule speaks about `action` (an `admin` rule speaks about every action).
    public func covers(_ action: AccessAction) -> Bool {
        actions.contains(action) || actions.contains(.admin)
    }

    /// `allow pub,sub on topic orders.*`
    public var summary: String {
        "\(decision) \(AccessAction.format(actions)) on \(kind) \(pattern)"
    }
}
