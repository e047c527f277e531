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
    /// The broker group (`--broker-group`): what the key is derived for.
    let groupName: String
    private let replica = Mutex<Replica?>(nil)
    private let logger: Logger
    /// The group's leader as etcd names it now (nil: none, or etcd unreachable): asked once at
    /// start-up, to learn whether this replica needs the leader's snapshot.
    private let currentLeader: @Sendable () async -> LeaderRecord?
    /// The group's secret from etcd (stored there first when absent), asked with a bound at
    /// start-up when no `--replication-secret-file` gives one; nil when etcd does not answer.
    private let groupSecret: @Sendable () async -> [UInt8]?

    /// - Throws: `BrokerError` `.invalidConfiguration` naming `--replication-secret-file` for a
    ///   secret file that cannot be read or is too short.
    init(
        _ broker: BrokerConfiguration, advertisedHost: String, logger: Logger,
        currentLeader: @escaping @Sendable () async -> LeaderRecord?,
        groupSecret: @escaping @Sendable () async -> [UInt8]?,
        latestEpoch: @escaping @Sendable () async -> Int64?
    ) throws(BrokerError) {
        self.currentLeader = currentLeader
        self.groupSecret = groupSecret
        var configuration = ReplicaConfiguration(
            nodeID: broker.effectiveNodeID, replicas: broker.replicas,
            mode: broker.replicationMode == .sync ? .sync : .async, timeout: broker.replicationTimeout,
            host: broker.grpcHost, port: broker.replicationPort)
        configuration.latestEpoch = latestEpoch
        if let path = broker.replicationSecretFile {
            do throws(ReplicationError) {
                configuration.key = try ReplicationKey(secret: ReplicationKey.readSecretFile(path), group: broker.brokerGroup)
            } catch {
                throw BrokerError(.invalidConfiguration, "--replication-secret-file: \(error.message)")
            }
        }
        if let files = broker.replicationTLS, let ca = broker.replicationCAFile {
            do throws(ReplicationError) {
                configuration.tls = try ReplicationTLS(
                    certificateChain: files.certificatePath, privateKey: files.privateKeyPath, trustRoots: ca)
            } catch {
                throw BrokerError(.invalidConfiguration, "--replication-tls-cert/--replication-tls-key/--replication-tls-ca: \(error.description)")
            }
        }
        self.configuration = configuration
        let bracketed = advertisedHost.contains(":") ? "[\(advertisedHost)]" : advertisedHost
        advertisedAddress = "\(bracketed):\(broker.replicationPort)"
        groupName = broker.brokerGroup
        self.logger = logger
    }

    /// Called by the store right after the log opens, before the database does. A replica
    /// whose log ends before the leader's first retained record (or whose folder's markers say
    /// so) takes the leader's snapshot first: it closes the log, installs the snapshot and asks
    /// the store to open again (`.reopen`). Otherwise it refuses local appends and binds the port.
    /// - Throws: `BrokerError` `.addressUnavailable` when the replication port is taken;
    ///   `.storageUnavailable` when a snapshot is needed (or half installed) and cannot be taken.
    func attach(_ log: CommitLog, handle: BrokerHandle) async throws -> LogOpenedAction {
        var configuration = self.configuration
        if configuration.key == nil, let secret = await groupSecret() {
            configuration.key = try? ReplicationKey(secret: secret, group: groupName)
        }
        if let leader = try await snapshotSource(for: log, key: configuration.key) {
            try await takeSnapshot(from: leader, key: configuration.key, closing: log)
            return .reopen
        }
        do throws(ReplicationError) {
            let opened = try await Replica.open(
                log: log, configuration: configuration,
                companion: TransactionTableCompanion(handle: handle, directory: log.configuration.directory, logger: logger),
                logger: logger)
            replica.withLock { $0 = opened }
            ConsoleOutput.announceListening("replication", host: configuration.host, port: opened.boundPort ?? configuration.port)
        } catch {
            throw BrokerError(.addressUnavailable, "--replication-port: \(error.description)")
        }
        return .proceed
    }

    /// The leader to take a snapshot from, or nil when this replica can copy the log: a live
    /// leader (not this node) whose first retained record lies past this log's end, or any live
    /// leader when a marker asks for a snapshot.
    /// - Throws: `.storageUnavailable` for a half-installed snapshot and no leader to finish it.
    private func snapshotSource(for log: CommitLog, key: ReplicationKey?) async throws(BrokerError) -> LeaderTarget? {
        let directory = log.configuration.directory
        let markers = await SnapshotTransfer.markers(in: directory)
        let record = await currentLeader()
        let target = record.flatMap { leader -> LeaderTarget? in
            guard leader.nodeID != configuration.nodeID else { return nil }
            return leader.replicationAddress.flatMap { LeaderTarget(nodeID: leader.nodeID, epoch: leader.epoch, address: $0) }
        }
        let status = await target.asyncFlatMap {
            await Replica.queryStatus(
                host: $0.host, port: $0.port, timeout: .seconds(2), nodeID: configuration.nodeID, key: key, tls: configuration.tls)
        }
        guard let target, let status, status.isLeader else {
            if markers.installing {
                throw BrokerError(
                    .storageUnavailable,
                    "\(directory) holds a half-installed snapshot of the group's leader (\(SnapshotTransfer.installingMarker)); "
                        + "start this broker again once the group has a leader to copy it from")
            }
            if markers.needed {
                logger.warning("a snapshot is due but no leader answers; starting from the local log")
            }
            return nil
        }
        if markers.installing || markers.needed {
            logger.notice("taking the leader's snapshot as the data folder's marker asks", metadata: ["leader": "\(target.nodeID)"])
            return target
        }
        guard status.startOffset > log.endOffset else { return nil }
        logger.notice(
            "the leader's retention deleted records this replica lacks: taking its snapshot",
            metadata: [
                "leader": "\(target.nodeID)", "leader.start": "\(status.startOffset)", "local.end": "\(log.endOffset)",
            ])
        return target
    }

    /// Downloads the snapshot while the log is still open, then closes the log and installs it.
    private func takeSnapshot(from leader: LeaderTarget, key: ReplicationKey?, closing log: CommitLog) async throws(BrokerError) {
        let configuration = log.configuration
        let manifest: SnapshotManifest
        do throws(ReplicationError) {
            manifest = try await SnapshotTransfer.download(
                from: leader, nodeID: self.configuration.nodeID, key: key, tls: self.configuration.tls,
                directory: configuration.directory, logger: logger)
        } catch {
            await log.close()
            throw BrokerError(.storageUnavailable, "cannot copy the snapshot of \(leader.nodeID): \(error.description)")
        }
        await log.close()
        do throws(ReplicationError) {
            try await SnapshotTransfer.install(
                manifest, configuration: configuration, derived: TransactionTableCompanion.snapshotFiles, logger: logger)
        } catch {
            throw BrokerError(.storageUnavailable, "cannot install the snapshot of \(leader.nodeID): \(error.description)")
        }
        ConsoleOutput.announce("installed the snapshot of leader \(leader.nodeID); the log starts at \(manifest.logStart)")
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
                    tasks.addTask { await replica.queryStatus(host: peer.host, port: peer.port, timeout: .milliseconds(500)) }
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

    /// Gives the replica its group's key from etcd when it has none yet (etcd did not answer at
    /// start-up): stores a random secret when the group has none, retries every second until
    /// etcd answers. Until then the replica's port refuses every peer and it fetches nothing.
    static func ensureKey(_ replica: Replica, client: EtcdClient, keys: ClusterKeys, group: String, logger: Logger) async {
        while replica.key == nil, !Task.isCancelled {
            do {
                let secret = try await GroupSecret(client: client, group: group, keys: keys)
                    .loadOrCreate(candidate: ReplicationKey.randomSecret())
                replica.useKey(try ReplicationKey(secret: secret, group: group))
            } catch {
                logger.warning("cannot read the group's replication secret from etcd; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
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

extension Optional {
    fileprivate func asyncFlatMap<U>(_ transform: (Wrapped) async -> U?) async -> U? {
        guard let value = self else { return nil }
        return await transform(value)
    }
}
