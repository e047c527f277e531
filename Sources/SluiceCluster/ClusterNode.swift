import Foundation
import Logging
import Synchronization

/// A broker's part in its cluster: one lease kept alive, the registration under it, and the
/// election of its broker group, campaigned again whenever leadership or the lease is lost.
///
/// Nothing on the message path waits on it: `run()` works in the background and `status` is a
/// snapshot read under a lock.
public final class ClusterNode: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var nodeID: String
        public var brokerGroup: String
        public var grpcAddress: String
        public var adminAddress: String
        /// The lease TTL: how long after this process dies (or loses etcd) its registration and
        /// leadership expire, so the bound on fail-over time.
        public var leaseTTLSeconds: Int64
        public var keys: ClusterKeys
        /// The replication port's address, published in the registration and the leader record.
        public var replicationAddress: String?

        public init(
            nodeID: String, brokerGroup: String, grpcAddress: String, adminAddress: String, leaseTTLSeconds: Int64,
            keys: ClusterKeys = ClusterKeys(), replicationAddress: String? = nil
        ) {
            self.replicationAddress = replicationAddress
            self.nodeID = nodeID
            self.brokerGroup = brokerGroup
            self.grpcAddress = grpcAddress
            self.adminAddress = adminAddress
            self.leaseTTLSeconds = leaseTTLSeconds
            self.keys = keys
        }
    }

    public enum Role: String, Sendable, Hashable, Codable {
        /// Not (yet) registered: connecting to etcd or waiting for a lease.
        case joining
        /// Registered; another node leads the group (or the election is under way).
        case follower
        case leader
    }

    /// What this node knows about itself and its group's leader.
    public struct Status: Sendable, Hashable {
        public var role: Role = .joining
        /// This node's epoch while it leads; else the epoch of the leader it last saw.
        public var epoch: Int64 = 0
        public var leader: LeaderRecord?
        public var leaseID: Int64 = 0
        public var lastError: String?

        public init() {}
    }

    public let configuration: Configuration
    public let client: EtcdClient
    private let logger: Logger
    private let state = Mutex(Status())
    /// Called on every change of role or leader (the broker prints a line for it).
    private let onChange: @Sendable (Status) -> Void
    /// Runs before each bid for a vacant leadership (`LeaderElection.campaign`).
    private let beforeBid: (@Sendable () async -> Void)?

    public init(
        client: EtcdClient, configuration: Configuration, logger: Logger,
        beforeBid: (@Sendable () async -> Void)? = nil,
        onChange: @escaping @Sendable (Status) -> Void = { _ in }
    ) throws(EtcdError) {
        self.beforeBid = beforeBid
        try ClusterKeys.checkSegment(configuration.nodeID, "node id")
        try ClusterKeys.checkSegment(configuration.brokerGroup, "broker group")
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.onChange = onChange
    }

    public var status: Status { state.withLock { $0 } }

    private func update(_ change: (inout Status) -> Void) {
        let (before, after) = state.withLock { status in
            let before = status
            change(&status)
            return (before, status)
        }
        if before.role != after.role || before.leader != after.leader || before.epoch != after.epoch { onChange(after) }
    }

    /// Runs until the task is cancelled; then resigns and revokes the lease so that another node
    /// takes over at once instead of after a TTL. etcd being away is retried, never fatal.
    public func run() async {
        let registry = BrokerRegistry(client: client, keys: configuration.keys)
        while !Task.isCancelled {
            var lease: EtcdLease?
            do {
                let granted = try await client.grantLease(ttlSeconds: configuration.leaseTTLSeconds)
                lease = granted
                let record = BrokerRecord(
                    nodeID: configuration.nodeID, brokerGroup: configuration.brokerGroup,
                    grpcAddress: configuration.grpcAddress, adminAddress: configuration.adminAddress,
                    registeredAtMs: Int64(Date().timeIntervalSince1970 * 1000),
                    replicationAddress: configuration.replicationAddress)
                try await registry.register(record, lease: granted)
                update { $0.role = .follower; $0.leaseID = granted.id; $0.lastError = nil }
                logger.info("registered in etcd", metadata: ["lease": "\(granted.id)", "ttl": "\(granted.ttlSeconds)s"])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.client.keepAlive(granted) }
                    group.addTask { try await self.serveElection(lease: granted) }
                    group.addTask { try await self.followLeader() }
                    // The first to end (a lost lease, a broken watch, cancellation) ends the round.
                    defer { group.cancelAll() }
                    _ = try await group.next()
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("cluster coordination interrupted; starting over", metadata: ["error": "\(error)"])
                update { $0.role = .joining; $0.leader = nil; $0.lastError = "\(error)" }
            }
            if Task.isCancelled { break }
            // The old lease may still live (a watch broke, not the lease): revoke it so the next
            // round does not leave a second registration or a stale leadership behind.
            if let lease { try? await client.revokeLease(lease.id) }
            try? await Task.sleep(for: .milliseconds(500))
        }
        await stepDown()
    }

    /// Campaigns; while leading, waits to be deposed; then campaigns again.
    private func serveElection(lease: EtcdLease) async throws {
        let election = try LeaderElection(client: client, group: configuration.brokerGroup, keys: configuration.keys)
        while true {
            let leadership = try await election.campaign(
                nodeID: configuration.nodeID, grpcAddress: configuration.grpcAddress,
                replicationAddress: configuration.replicationAddress, lease: lease, beforeBid: beforeBid)
            update { $0.role = .leader; $0.epoch = leadership.record.epoch; $0.leader = leadership.record }
            logger.notice("leader of broker group", metadata: ["group": "\(leadership.group)", "epoch": "\(leadership.record.epoch)"])
            try await election.waitUntilDeposed(leadership)
            logger.warning("lost leadership", metadata: ["group": "\(leadership.group)", "epoch": "\(leadership.record.epoch)"])
            update { if $0.role == .leader { $0.role = .follower } }
        }
    }

    /// Keeps `status.leader` current from the leader key's Watch.
    private func followLeader() async throws {
        let election = try LeaderElection(client: client, group: configuration.brokerGroup, keys: configuration.keys)
        for try await leader in election.observe() {
            update { status in
                status.leader = leader
                if let leader {
                    if leader.nodeID != configuration.nodeID, status.role == .leader { status.role = .follower }
                    status.epoch = leader.epoch
                }
            }
        }
        throw EtcdError(.cancelled, "leader watch ended")
    }

    /// On shutdown: give up leadership and registration now (bounded: etcd may be gone).
    private func stepDown() async {
        let leaseID = status.leaseID
        update { $0.role = .joining; $0.leader = nil }
        guard leaseID != 0 else { return }
        // Revoking the lease deletes the registration and the leader key in one step. The caller
        // is cancelled by now, and a cancelled task's calls fail at once: revoke from a task of
        // its own (the call's deadline bounds it).
        let client = self.client
        await Task { try? await client.revokeLease(leaseID) }.value
        logger.info("left the cluster", metadata: ["lease": "\(leaseID)"])
    }

    /// The whole cluster as etcd holds it now: live brokers and each group's leader and epoch.
    public func clusterView() async throws(EtcdError) -> ClusterView {
        try await ClusterView.read(client: client, keys: configuration.keys)
    }
}

/// A snapshot of the cluster for `GET /v1/cluster` and `sluice cluster status`.
public struct ClusterView: Sendable, Hashable {
    public struct Group: Sendable, Hashable {
        public var name: String
        public var leader: LeaderRecord?
        public var epoch: Int64
        public var members: [BrokerRecord]
    }

    public var groups: [Group]

    static func read(client: EtcdClient, keys: ClusterKeys) async throws(EtcdError) -> ClusterView {
        let brokers = try await BrokerRegistry(client: client, keys: keys).liveBrokers()
        let (groupValues, _) = try await client.list(prefix: keys.groupsPrefix)
        var leaders: [String: LeaderRecord] = [:]
        var epochs: [String: Int64] = [:]
        for value in groupValues {
            let rest = value.key.dropFirst(keys.groupsPrefix.count)
            guard let slash = rest.firstIndex(of: "/") else { continue }
            let group = String(rest[..<slash])
            switch rest[rest.index(after: slash)...] {
            case "leader": leaders[group] = try StoredJSON.decode(LeaderRecord.self, from: value)
            case "epoch": epochs[group] = try LeaderElection.epoch(of: value)
            default: continue
            }
        }
        let names = Set(brokers.map(\.brokerGroup)).union(leaders.keys).union(epochs.keys).sorted()
        return ClusterView(
            groups: names.map { name in
                Group(
                    name: name, leader: leaders[name], epoch: epochs[name] ?? 0,
                    members: brokers.filter { $0.brokerGroup == name })
            })
    }
}
