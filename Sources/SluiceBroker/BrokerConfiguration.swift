import Foundation
import Logging
import SluiceTransactions
import SluiceStorage

/// Everything an operator can set on a broker, with the defaults `make run` uses.
///
/// A plain value: `BrokerConfiguration.resolve(flags:environment:)` builds one from a config file,
/// the environment and flags (in that order, later wins) and checks every value.
public struct BrokerConfiguration: Sendable, Hashable {
    /// The data folder (commit log, indexes, lock file). Relative paths resolve against the
    /// working directory.
    public var dataDirectory = "./data"
    /// Where the RocketMQ gRPC endpoint listens. 8081 is the RocketMQ 5 proxy's port, so the
    /// official client examples work unchanged.
    public var grpcHost = "127.0.0.1"
    public var grpcPort = 8081
    /// Where the admin HTTP API (health, readiness, metrics) listens.
    public var adminHost = "127.0.0.1"
    public var adminPort = 8082
    /// `--http-port`: the RocketMQ HTTP access front (on `grpcHost`); nil leaves it off.
    public var httpPort: Int?
    /// `--mqtt-port`: the MQTT access front (on `grpcHost`); nil leaves it off.
    public var mqttPort: Int?
    /// `--mqtt-max-packet-size`: nil derives it from the largest message body.
    public var mqttMaxPacketBytes: Int?
    /// `--mqtt-max-inflight`: per session, QoS 1/2 deliveries and QoS 2 publishes unanswered.
    public var mqttMaxInflight = 32
    /// `--mqtt-max-queued`: per kept session, unread messages delivered on its return; 0 for no limit.
    public var mqttMaxQueued = 0
    /// `sync` acknowledges an append after fdatasync; `async` after the page-cache write.
    public var flushMode = FlushMode.sync
    /// How often an `async` broker syncs the log. RocketMQ's `flushIntervalCommitLog` default:
    /// a crash may lose up to this much acknowledged data, which is what async flush trades away.
    public var asyncFlushInterval: Duration = .milliseconds(500)
    /// When the first check-back for an unresolved half message is sent (RocketMQ default 6 s).
    public var transactionTimeout: Duration = .seconds(6)
    /// How long a half message may wait in memory for its end (0: not at all).
    public var transactionHold: Duration = .milliseconds(500)
    /// When a producer's end of a held half is answered under sync flush (docs/transactions.md).
    public var transactionEndFlush = TransactionEndFlush.deferred
    /// How often unresolved half messages are checked again (RocketMQ default 30 s).
    public var transactionCheckInterval: Duration = .seconds(30)
    /// How many check-backs before a half message is given up (RocketMQ default 15).
    public var transactionCheckMax = 15
    /// Size of each preallocated commit-log segment (RocketMQ default 1 GiB).
    public var segmentSizeBytes = 1 << 30
    /// Sealed segments older than this are deleted (RocketMQ `fileReservedTime` default 72 h).
    public var retentionHours = 72
    public var logLevel = Logger.Level.info
    /// The bearer token the admin API requires; nil leaves it open, which `validate()` allows
    /// only on a loopback address.
    public var adminToken: String?
    /// Whether message trace events are recorded (`--trace on|off`).
    public var traceEnabled = true
    /// What happens when a transaction's check-backs are used up (`--transaction-check-exhausted`).
    public var checkBudgetPolicy = CheckBudgetPolicy.park
    /// Whether consumer groups appear on first use (`--auto-create-groups on|off`).
    public var autoCreateGroups = true
    /// Bounds on the gRPC endpoint's connections, streams, calls and buffered bodies.
    public var frontDoor = FrontDoorLimits()
    /// Which gRPC server serves the RocketMQ port (`--grpc-server`).
    public var grpcServer = GRPCServerKind.direct
    /// `--max-groups`, `--max-long-polls`, `--max-clients`: what clients together may claim.
    public var clientLimits = ClientLimits()
    /// `--auth on|off`, `--auth-max-clock-skew` (nil: not checked), `--bootstrap-user-file`.
    public var authEnabled = false
    public var authMaxClockSkew: Duration? = .seconds(15 * 3600)
    public var bootstrapUserFile: String?
    /// TLS for the gRPC port (`--tls-cert`, `--tls-key`, `--tls-client-ca`) and the admin port.
    public var grpcTLS: TLSFiles?
    public var grpcClientCAFile: String?
    public var adminTLS: TLSFiles?
    /// Cluster coordination (`--etcd`): nil keeps the broker single, exactly as without a cluster.
    public var cluster: ClusterSettings?
    /// `--broker-group`, `--node-id`, `--advertise-host`, `--etcd-lease-ttl`, kept even without
    /// `--etcd` so that the order of settings does not matter.
    public var brokerGroup = "default"
    public var nodeID: String?
    public var advertiseHost: String?
    public var etcdLeaseTTLSeconds = 5
    /// `--replicas`: the broker group's size; 1 = no replication.
    public var replicas = 1
    /// `--replication sync|async`.
    public var replicationMode: ReplicationModeSetting = .sync
    /// `--replication-timeout`: how long a sync send waits for followers.
    public var replicationTimeout: Duration = .seconds(5)
    /// `--replication-port`.
    public var replicationPort = 8091
    /// `--replication-secret-file` (nil: the group's secret lives in etcd).
    public var replicationSecretFile: String?
    /// `--replication-tls-cert`/`--replication-tls-key` and `--replication-tls-ca` (nil: plain TCP).
    public var replicationTLS: TLSFiles?
    public var replicationCAFile: String?
    /// The paths as given, checked together by `validate()`.
    var tlsPaths: [BrokerSetting: String] = [:]

    public init() {}

    /// The storage engine's flush policy for `flushMode`.
    public var flushPolicy: FlushPolicy {
        switch flushMode {
        case .sync: .sync
        case .async: .async(interval: asyncFlushInterval)
        }
    }

    /// The commit log's configuration for this broker.
    public var commitLogConfiguration: CommitLogConfiguration {
        var configuration = CommitLogConfiguration(directory: dataDirectory)
        configuration.segmentSizeBytes = segmentSizeBytes
        configuration.flush = flushPolicy
        configuration.retention.maxAge = .seconds(retentionHours * 3600)
        return configuration
    }
}

/// `--replication`: when a replicated send is acknowledged.
public enum ReplicationModeSetting: String, Sendable, Hashable, CaseIterable {
    case sync, async
}

/// Where the cluster's etcd is; the rest of the cluster settings live beside it in the configuration.
public struct ClusterSettings: Sendable, Hashable {
    /// As given to `--etcd`: `http://HOST:PORT[,...]` (parsed by the cluster module).
    public var etcdEndpoints: String
}

extension BrokerConfiguration {
    /// This broker's node id: `--node-id`, else `<hostname>-<grpc port>`.
    public var effectiveNodeID: String {
        if let nodeID { return nodeID }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "sluice"
        return "\(host)-\(grpcPort)"
    }
}

/// `--transaction-end-flush`: how durable a producer's commit or rollback of a held half must be
/// before it is answered.
public enum TransactionEndFlush: String, Sendable, Hashable, CaseIterable {
    /// Answered once written; synced with the next half (or 5 ms later at most). A decision lost to
    /// a power loss is recovered by checking the half back with its producer.
    case deferred
    /// Answered after its own `fdatasync`, like every other append under sync flush.
    case sync

    /// The storage engine's durability for such a decision.
    public var appendDurability: AppendDurability { self == .deferred ? .deferred : .policy }
}

/// The two flush modes, named as on the command line.
public enum FlushMode: String, Sendable, Hashable, CaseIterable {
    case sync, async
}

/// The gRPC server behind the RocketMQ port: Sluice's own (`direct`, the default, for its cost
/// per call) or grpc-swift's (kept to compare and to fall back on).
public enum GRPCServerKind: String, Sendable, Hashable {
    case direct
    case grpcSwift = "grpc-swift"
}
