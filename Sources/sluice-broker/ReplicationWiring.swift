import Foundation
import Logging
import SluiceBroker
import SluiceCluster
import SluiceReplication
import SluiceStorage
import Synchronization

/// `--replicas 2` or more: joins the commit log to its group's election. The store opens the log
/// and hands it over (`attach`) before anything appends; the cluster service then waits for the
/// replica, campaigns with the candidacy rule, and turns each role change into `becomeLeader` or
/// `follow` in order.
final class ReplicationWiring: Sendable {
    let configuration: ReplicaConfiguration
    /// `host:port` peers reach the replication port at (published in etcd).
    let advertisedAddress: String
    private let replica = Mutex<Replica?>(nil)
    private let logger: Logger

    init(_ broker: BrokerConfiguration, advertisedHost: String, logger: Logger) {
        configuration = ReplicaConfiguration(
            nodeID: broker.effectiveNodeID, replicas: broker.replicas,
            mode: broker.replicationMode == .sync ? .sync : .async, timeout: broker.replicationTimeout,
            host: broker.grpcHost, port: broker.replicationPort)
        let bracketed = advertisedHost.contains(":") ? "[\(advertisedHost)]" : advertisedHost
        advertisedAddress = "\(bracketed):\(broker.replicationPort)"
        self.logger = logger
    }

    /// Called by the store right after the log opens: refuses local appends, binds the port.
    /// - Throws: `BrokerError` `.addressUnavailable` when the replication port is taken.
    func attach(_ log: CommitLog, handle: BrokerHandle) async throws {
        do throws(ReplicationError) {
            let opened = try await Replica.open(
                log: log, configuration: configuration, companion: TransactionTableCompanion(handle: handle, logger: logger),
                logger: logger)
            replica.withLock { $0 = opened }
            ConsoleOutput.announceListening("replication", host: configuration.host, port: opened.boundPort ?? configuration.port)
        } catch {
            throw BrokerError(.addressUnavailable, "--replication-port: \(error.description)")
        }
    }

    /// The replica once the store attached the log (nil if cancelled first).
    func waitForReplica() async -> Replica? {
        while !Task.isCancelled {
            if let opened = replica.withLock({ $0 }) { return opened }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    var current: Replica? { replica.withLock { $0 } }

    /// The node id of the leader this broker's replica follows (nil while leading or unknown).
    var followedLeader: String? { current?.snapshot.leader }

    /// The candidacy rule, run before each bid: ask the live peers of the group how complete
    /// their logs are; while one is more complete, let it bid first (up to three rounds of a
    /// second, so a peer that is up but cannot win does not block the group forever).
    static func candidacy(
        _ replica: Replica, client: EtcdClient, keys: ClusterKeys, group: String, logger: Logger
    ) async {
        for round in 0..<3 {
            let brokers = (try? await BrokerRegistry(client: client, keys: keys).liveBrokers()) ?? []
            let peers = brokers.filter { $0.brokerGroup == group && $0.nodeID != replica.configuration.nodeID }
                .compactMap { broker in broker.replicationAddress.flatMap { LeaderTarget(nodeID: broker.nodeID, epoch: 0, address: $0) } }
            let statuses = await withTaskGroup(of: ReplicaStatus?.self) { tasks in
                for peer in peers {
                    tasks.addTask { await Replica.queryStatus(host: peer.host, port: peer.port, timeout: .milliseconds(500)) }
                }
                var found: [ReplicaStatus] = []
                for await status in tasks { if let status { found.append(status) } }
                return found
            }
            guard replica.shouldDefer(to: statuses) else { return }
            logger.notice(
                "a peer's log is more complete; letting it bid first",
                metadata: ["round": "\(round + 1)", "mine": "\(replica.status)", "peers": "\(statuses)"])
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
        }
    }

    /// Applies each role change to the replica, in order, until the stream ends.
    static func drive(_ replica: Replica, statuses: AsyncStream<ClusterNode.Status>, logger: Logger) async {
        for await status in statuses {
            switch status.role {
            case .leader:
                do throws(ReplicationError) {
                    try await replica.becomeLeader(epoch: status.epoch)
                } catch {
                    logger.error("cannot take over as the group's leader", metadata: ["error": "\(error)"])
                }
            case .follower, .joining:
                let target = status.leader.flatMap { leader in
                    leader.replicationAddress.flatMap { LeaderTarget(nodeID: leader.nodeID, epoch: leader.epoch, address: $0) }
                }
                replica.follow(target)
            }
        }
        replica.follow(nil)
    }
}
