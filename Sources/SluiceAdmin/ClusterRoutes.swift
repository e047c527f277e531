import Hummingbird

/// What `GET /v1/cluster` answers: this broker's place in its cluster and the cluster as etcd
/// holds it. The admin module does not speak etcd itself: the executable supplies a
/// `ClusterStatusSource` that reads it (and none for a single broker).
public struct ClusterStatusReport: Encodable, Sendable, Hashable {
    public struct Node: Encodable, Sendable, Hashable {
        public var nodeId: String
        public var brokerGroup: String
        /// joining (no lease yet), follower or leader.
        public var role: String
        public var epoch: Int64
        public var leaseId: Int64
        public var lastError: String?
        /// This node's replica of the group's log (`--replicas` 2 or more); absent without replication.
        public var replication: Replication?

        public init(nodeId: String, brokerGroup: String, role: String, epoch: Int64, leaseId: Int64, lastError: String?) {
            self.nodeId = nodeId
            self.brokerGroup = brokerGroup
            self.role = role
            self.epoch = epoch
            self.leaseId = leaseId
            self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey { case nodeId, brokerGroup, role, epoch, leaseId, lastError, replication }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(nodeId, forKey: .nodeId)
            try container.encode(brokerGroup, forKey: .brokerGroup)
            try container.encode(role, forKey: .role)
            try container.encode(epoch, forKey: .epoch)
            try container.encode(leaseId, forKey: .leaseId)
            try container.encode(lastError, forKey: .lastError)  // null, not left out
            try container.encodeIfPresent(replication, forKey: .replication)
        }
    }

    /// Replication state of one node: its role in the log's replication, how far its log reaches,
    /// and (as leader) what each follower has acknowledged this epoch.
    public struct Replication: Encodable, Sendable, Hashable {
        /// follower, promoting (elected, taking over) or leader.
        public var role: String
        public var epoch: Int64
        public var endOffset: UInt64
        /// The offset below which a majority of the group holds the log.
        public var highWatermark: UInt64
        /// As follower: the leader's end at the last fetch; as leader: its own end.
        public var leaderEndOffset: UInt64
        public var lagBytes: UInt64
        public var followers: [String: UInt64]
        public var lastError: String?

        public init(
            role: String, epoch: Int64, endOffset: UInt64, highWatermark: UInt64, leaderEndOffset: UInt64, lagBytes: UInt64,
            followers: [String: UInt64], lastError: String?
        ) {
            self.role = role
            self.epoch = epoch
            self.endOffset = endOffset
            self.highWatermark = highWatermark
            self.leaderEndOffset = leaderEndOffset
            self.lagBytes = lagBytes
            self.followers = followers
            self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey {
            case role, epoch, endOffset, highWatermark, leaderEndOffset, lagBytes, followers, lastError
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(role, forKey: .role)
            try container.encode(epoch, forKey: .epoch)
            try container.encode(endOffset, forKey: .endOffset)
            try container.encode(highWatermark, forKey: .highWatermark)
            try container.encode(leaderEndOffset, forKey: .leaderEndOffset)
            try container.encode(lagBytes, forKey: .lagBytes)
            try container.encode(followers, forKey: .followers)
            try container.encode(lastError, forKey: .lastError)  // null, not left out
        }
    }

    public struct Member: Encodable, Sendable, Hashable {
        public var nodeId: String
        public var role: String
        public var grpcAddress: String
        public var adminAddress: String

        public init(nodeId: String, role: String, grpcAddress: String, adminAddress: String) {
            self.nodeId = nodeId
            self.role = role
            self.grpcAddress = grpcAddress
            self.adminAddress = adminAddress
        }
    }

    public struct Group: Encodable, Sendable, Hashable {
        enum CodingKeys: String, CodingKey { case name, leader, epoch, members, queues }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(leader, forKey: .leader)  // null while the group has no leader
            try container.encode(epoch, forKey: .epoch)
            try container.encode(members, forKey: .members)
            try container.encode(queues, forKey: .queues)
        }

        public var name: String
        /// The leader's node id; nil while the group has none.
        public var leader: String?
        /// The epoch of the group's latest leader (0 before the first election).
        public var epoch: Int64
        public var members: [Member]
        /// Queues the route table gives this group, over every topic.
        public var queues: Int

        public init(name: String, leader: String?, epoch: Int64, members: [Member], queues: Int = 0) {
            self.name = name
            self.leader = leader
            self.epoch = epoch
            self.members = members
            self.queues = queues
        }
    }

    /// single (no --etcd) or etcd.
    public var mode: String
    public var etcd: String?
    public var node: Node?
    public var groups: [Group]
    /// Why `groups` could not be read from etcd just now, if it could not.
    public var etcdError: String?

    public init(mode: String, etcd: String?, node: Node?, groups: [Group], etcdError: String?) {
        self.mode = mode
        self.etcd = etcd
        self.node = node
        self.groups = groups
        self.etcdError = etcdError
    }

    public static let single = ClusterStatusReport(mode: "single", etcd: nil, node: nil, groups: [], etcdError: nil)

    // Explicit nulls: a script can test `node == null` without checking for the key first.
    enum CodingKeys: String, CodingKey { case mode, etcd, node, groups, etcdError }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        try container.encode(etcd, forKey: .etcd)
        try container.encode(node, forKey: .node)
        try container.encode(groups, forKey: .groups)
        try container.encode(etcdError, forKey: .etcdError)
    }
}

public typealias ClusterStatusSource = @Sendable () async -> ClusterStatusReport

/// `GET /v1/cluster`: answers during recovery too (coordination does not wait for the store).
enum ClusterRoutes {
    static func add(to router: Router<some RequestContext>, source: ClusterStatusSource?) {
        router.get("v1/cluster") { _, _ in
            JSONResponse.make(status: .ok, await source?() ?? .single)
        }
    }
}
