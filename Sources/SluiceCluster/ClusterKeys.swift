/// Where Sluice keeps its coordination state in etcd. Every key lives under one root (default
/// `/sluice`), so several Sluice clusters can share an etcd:
///
/// | key | value | lease |
/// |---|---|---|
/// | `<root>/brokers/<node-id>` | `BrokerRecord` JSON | the broker's lease |
/// | `<root>/groups/<group>/leader` | `LeaderRecord` JSON | the leader's lease |
/// | `<root>/groups/<group>/epoch` | decimal epoch of the latest leader | none (outlives leaders) |
/// | `<root>/groups/<group>/replication-secret` | hex of the group's replication secret (written once, by its first broker) | none |
/// | `<root>/routes/<topic>` | `TopicRoute` JSON | none |
/// | `<root>/txn-check-owners/<producer-group>` | `CheckOwner` JSON | the owner's lease |
public struct ClusterKeys: Sendable, Hashable {
    public let root: String

    public init(root: String = "/sluice") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var brokersPrefix: String { root + "/brokers/" }
    public var groupsPrefix: String { root + "/groups/" }
    public var routesPrefix: String { root + "/routes/" }
    public var checkOwnersPrefix: String { root + "/txn-check-owners/" }

    public func broker(_ nodeID: String) -> String { brokersPrefix + nodeID }
    public func leader(ofGroup group: String) -> String { groupsPrefix + group + "/leader" }
    public func epoch(ofGroup group: String) -> String { groupsPrefix + group + "/epoch" }
    public func replicationSecret(ofGroup group: String) -> String { groupsPrefix + group + "/replication-secret" }
    public func route(ofTopic topic: String) -> String { routesPrefix + topic }
    public func checkOwner(ofProducerGroup group: String) -> String { checkOwnersPrefix + group }

    /// Names become one path segment of a key: no `/` (it would make a key ambiguous), not empty,
    /// and short enough that a key stays far below etcd's request size limit.
    /// - Throws: `.invalidArgument` naming `what`.
    public static func checkSegment(_ name: String, _ what: String) throws(EtcdError) {
        guard !name.isEmpty else { throw EtcdError(.invalidArgument, "\(what) must not be empty") }
        guard name.utf8.count <= 255 else {
            throw EtcdError(.invalidArgument, "\(what) is \(name.utf8.count) bytes; at most 255")
        }
        guard !name.contains("/"), name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw EtcdError(.invalidArgument, "\(what) '\(name)' must not contain '/', spaces or control characters")
        }
    }

    /// The end of etcd's half-open range `[prefix, end)` that holds exactly the keys starting with
    /// `prefix`: the prefix with its last byte below 0xFF incremented.
    static func rangeEnd(ofPrefix prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]  // every key
    }
}
