import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SluiceAdmin
import SluiceBroker
import SluiceCluster
import SluiceProtocol
import SluiceReplication
import Synchronization

/// `--etcd`: the broker's registration and its broker group's election as a `Service`, beside the
/// store, gRPC and admin services and independent of them. No message waits on it; the admin API
/// reads its status (`GET /v1/cluster`).
///
/// On SIGTERM it stops first (services stop in reverse order), resigning and revoking its lease,
/// so another broker of the group takes over at once instead of after a lease TTL.
final class ClusterCoordination: Service, Sendable {
    let endpoints: EtcdEndpoints
    let nodeConfiguration: ClusterNode.Configuration
    private let logger: Logger
    private let node = Mutex<ClusterNode?>(nil)
    /// Log replication within the group (`--replicas` 2 or more); nil: each broker keeps its own log.
    let replication: ReplicationWiring?
    /// With replication, the group's leader as routes name it (updated on every change of leader).
    let groupLeader: GroupLeaderAddress?

    /// The route table followed in memory, and the writer of new topics' routes.
    let routing: ClusterRouting

    /// - Throws: `BrokerError` `.invalidConfiguration` naming `--etcd` for an unusable endpoint list.
    init(_ configuration: BrokerConfiguration, cluster: ClusterSettings, handle: BrokerHandle, logger: Logger)
        throws(BrokerError)
    {
        let endpoints: EtcdEndpoints
        do {
            endpoints = try EtcdEndpoints(parsing: cluster.etcdEndpoints)
        } catch {
            throw BrokerError(.invalidConfiguration, "--etcd: \(error.message)")
        }
        self.endpoints = endpoints
        let host = configuration.advertiseHost ?? Self.advertisable(configuration.grpcHost)
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let replication = configuration.replicas > 1
            ? try ReplicationWiring(
                configuration, advertisedHost: host, logger: Logger(label: "sluice.replication"),
                currentLeader: { [endpoints, group = configuration.brokerGroup] in
                    await Self.currentLeader(of: group, endpoints: endpoints, logger: logger)
                },
                groupSecret: { [endpoints, group = configuration.brokerGroup] in
                    await Self.groupSecret(of: group, endpoints: endpoints, logger: logger)
                },
                latestEpoch: { [endpoints, group = configuration.brokerGroup] in
                    await Self.latestEpoch(of: group, endpoints: endpoints, logger: logger)
                }) : nil
        self.replication = replication
        groupLeader = replication == nil ? nil : GroupLeaderAddress()
        nodeConfiguration = ClusterNode.Configuration(
            nodeID: configuration.effectiveNodeID, brokerGroup: configuration.brokerGroup,
            grpcAddress: "\(bracketed):\(configuration.grpcPort)",
            adminAddress: "\(Self.advertisable(configuration.adminHost)):\(configuration.adminPort)",
            leaseTTLSeconds: Int64(configuration.etcdLeaseTTLSeconds), replicationAddress: replication?.advertisedAddress)
        routing = ClusterRouting(
            ownGroup: configuration.brokerGroup, keys: nodeConfiguration.keys, handle: handle,
            memory: RoutedTopicMemory(
                path: configuration.dataDirectory + "/" + RoutedTopicMemory.fileName, logger: Logger(label: "sluice.routes")),
            logger: Logger(label: "sluice.routes"))
        self.logger = logger
    }

    /// The group's leader record in etcd, read once with a bound (start-up must not hang on an
    /// unreachable etcd: the election will wait for it anyway); nil when none or unreachable.
    static func currentLeader(of group: String, endpoints: EtcdEndpoints, logger: Logger) async -> LeaderRecord? {
        await askEtcdOnce(endpoints: endpoints, logger: logger) { client in
            try await LeaderElection(client: client, group: group, keys: ClusterKeys()).currentLeader().leader
        }
    }

    /// The group's replication secret from etcd (a random one stored first when it has none),
    /// with the same bound; nil when etcd does not answer in time.
    static func groupSecret(of group: String, endpoints: EtcdEndpoints, logger: Logger) async -> [UInt8]? {
        await askEtcdOnce(endpoints: endpoints, logger: logger) { client in
            try await GroupSecret(client: client, group: group, keys: ClusterKeys())
                .loadOrCreate(candidate: ReplicationKey.randomSecret())
        }
    }

    /// The group's latest leader epoch in etcd (0 before any election), with the same bound; nil
    /// when etcd does not answer in time. Asked by a leader before a member's newer epoch deposes it.
    static func latestEpoch(of group: String, endpoints: EtcdEndpoints, logger: Logger) async -> Int64? {
        await askEtcdOnce(endpoints: endpoints, logger: logger) { client in
            try await LeaderElection(client: client, group: group, keys: ClusterKeys()).currentEpoch()
        }
    }

    /// One question to etcd (at start-up, or on a rare event), over a client of its own, within
    /// 5 s in all; nil when it fails or does not answer in time.
    private static func askEtcdOnce<T: Sendable>(
        endpoints: EtcdEndpoints, logger: Logger, _ question: @escaping @Sendable (EtcdClient) async throws -> T?
    ) async -> T? {
        await withTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                let found = try? await EtcdClient.withClient(endpoints: endpoints, requestTimeout: .seconds(3), logger: logger) {
                    client in try await question(client)
                }
                return found ?? nil
            }
            tasks.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            let first = await tasks.next()
            tasks.cancelAll()
            return first ?? nil
        }
    }

    /// A wildcard listen address is no address to reach: fall back on the host name.
    private static func advertisable(_ host: String) -> String {
        host == "0.0.0.0" || host == "::" ? ProcessInfo.processInfo.hostName : host
    }

    func run() async throws {
        try await EtcdClient.withClient(endpoints: endpoints, logger: logger) { client in
            try await self.run(client: client)
        }
    }

    private func run(client: EtcdClient) async throws {
        do {
            let group = nodeConfiguration.brokerGroup
            let leading = Gauge(label: "sluice_cluster_leader", dimensions: [("group", group)])
            let epoch = Gauge(label: "sluice_cluster_epoch", dimensions: [("group", group)])
            leading.record(0)
            // Leader changes this broker saw (a new leader epoch), for alerting on flapping groups.
            let leaderChanges = Counter(label: "sluice_cluster_leader_changes_total", dimensions: [("group", group)])
            let lastLeaderEpoch = Mutex<Int64>(0)
            // With replication, nothing campaigns before the store has opened the log and the
            // replica refuses local appends.
            var waited: Replica?
            if let replication {
                waited = await cancelWhenGracefulShutdown { await replication.waitForReplica() }
                guard waited != nil else { return }
            }
            let replica = waited
            if let replica {
                // Peers must prove the group's key before anything is fetched or compared.
                await cancelWhenGracefulShutdown {
                    await ReplicationWiring.ensureKey(replica, client: client, keys: self.nodeConfiguration.keys, group: group, logger: self.logger)
                }
                guard replica.key != nil else { return }
            }
            let (roles, rolesContinuation) = AsyncStream.makeStream(of: ClusterNode.Status.self)
            let keys = nodeConfiguration.keys
            let logger = self.logger
            var beforeBid: (@Sendable () async -> Void)?
            if let replica {
                beforeBid = { @Sendable in
                    await ReplicationWiring.candidacy(replica, client: client, keys: keys, group: group, logger: logger)
                }
            }
            let bid = beforeBid
            let groupLeader = self.groupLeader
            let node = try ClusterNode(
                client: client, configuration: nodeConfiguration, logger: logger, beforeBid: bid,
                onChange: { status in
                    Self.announce(status, group: group)
                    leading.record(status.role == .leader ? 1 : 0)
                    epoch.record(Double(status.epoch))
                    groupLeader?.update(grpcAddress: status.role == .joining ? nil : status.leader?.grpcAddress)
                    if let leaderEpoch = status.leader?.epoch {
                        let changed = lastLeaderEpoch.withLock { last in
                            defer { last = max(last, leaderEpoch) }
                            return leaderEpoch > last
                        }
                        if changed { leaderChanges.increment() }
                    }
                    rolesContinuation.yield(status)
                })
            self.node.withLock { $0 = node }
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { tasks in
                    tasks.addTask {
                        await node.run()
                        rolesContinuation.finish()
                    }
                    tasks.addTask { await self.routing.follow(client: client) }
                    if let replica {
                        tasks.addTask { await replica.run() }
                        tasks.addTask { await ReplicationMetrics(replica: replica, nodeID: self.nodeConfiguration.nodeID).run() }
                        tasks.addTask { await ReplicationWiring.drive(replica, statuses: roles, logger: logger) }
                    }
                }
            }
        }
    }

    /// One stdout line per change of role or leader, for operators and tests.
    private static func announce(_ status: ClusterNode.Status, group: String) {
        let line: String
        switch status.role {
        case .leader: line = "cluster leader of group \(group) at epoch \(status.epoch)"
        case .follower:
            line = "cluster follower in group \(group)" + (status.leader.map { " (leader \($0.nodeID), epoch \($0.epoch))" } ?? "")
        case .joining: line = "cluster joining group \(group)"
        }
        FileHandle.standardOutput.write(Data("sluice-broker: \(line)\n".utf8))
    }

    /// The report `GET /v1/cluster` answers with.
    func report() async -> ClusterStatusReport {
        let node = self.node.withLock { $0 }
        let status = node?.status ?? ClusterNode.Status()
        var nodeReport = ClusterStatusReport.Node(
            nodeId: nodeConfiguration.nodeID, brokerGroup: nodeConfiguration.brokerGroup, role: status.role.rawValue,
            epoch: status.epoch, leaseId: status.leaseID, lastError: status.lastError)
        if let snapshot = replication?.current?.snapshot {
            nodeReport.replication = ClusterStatusReport.Replication(
                role: snapshot.role.rawValue, epoch: snapshot.epoch, endOffset: snapshot.endOffset,
                highWatermark: snapshot.highWatermark, leaderEndOffset: snapshot.leaderEnd,
                lagBytes: snapshot.leaderEnd > snapshot.endOffset ? snapshot.leaderEnd - snapshot.endOffset : 0,
                followers: snapshot.followers, lastError: snapshot.lastError)
        }
        guard let node else {
            return ClusterStatusReport(
                mode: "etcd", etcd: endpoints.description, node: nodeReport, groups: [], etcdError: "not connected yet")
        }
        do {
            let view = try await node.clusterView()
            // From the followed copy: the route table is not read again per call.
            let routed = routing.current?.routedQueues ?? [:]
            var groups = view.groups.map { group in
                ClusterStatusReport.Group(
                    name: group.name, leader: group.leader?.nodeID, epoch: group.epoch,
                    members: group.members.map { member in
                        ClusterStatusReport.Member(
                            nodeId: member.nodeID, role: member.nodeID == group.leader?.nodeID ? "leader" : "follower",
                            grpcAddress: member.grpcAddress, adminAddress: member.adminAddress)
                    },
                    queues: routed[group.name] ?? 0)
            }
            // A group that routes still name but that has no broker, leader or epoch any more.
            for (name, queues) in routed where !groups.contains(where: { $0.name == name }) {
                groups.append(ClusterStatusReport.Group(name: name, leader: nil, epoch: 0, members: [], queues: queues))
            }
            groups.sort { $0.name < $1.name }
            return ClusterStatusReport(mode: "etcd", etcd: endpoints.description, node: nodeReport, groups: groups, etcdError: nil)
        } catch {
            return ClusterStatusReport(
                mode: "etcd", etcd: endpoints.description, node: nodeReport, groups: [], etcdError: error.description)
        }
    }
}
