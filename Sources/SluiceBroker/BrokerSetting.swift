/// One configurable broker setting, named once for all three places it can be set: the flag
/// (`--grpc-port`), the config-file key (`grpc-port`) and the environment variable
/// (`SLUICE_GRPC_PORT`).
public enum BrokerSetting: String, Sendable, Hashable, CaseIterable {
    case dataDir = "data-dir"
    case grpcHost = "grpc-host"
    case grpcPort = "grpc-port"
    case adminHost = "admin-host"
    case adminPort = "admin-port"
    case flush
    case flushInterval = "flush-interval"
    case transactionTimeout = "transaction-timeout"
    case transactionCheckInterval = "transaction-check-interval"
    case transactionCheckMax = "transaction-check-max"
    case segmentSize = "segment-size"
    case retentionHours = "retention-hours"
    case logLevel = "log-level"
    case adminToken = "admin-token"
    case trace
    case transactionCheckExhausted = "transaction-check-exhausted"
    case transactionHold = "transaction-hold"
    case transactionEndFlush = "transaction-end-flush"
    case autoCreateGroups = "auto-create-groups"
    case grpcServer = "grpc-server"
    case grpcMaxConnections = "grpc-max-connections"
    case grpcMaxConcurrentStreams = "grpc-max-concurrent-streams"
    case grpcMaxInflightRequests = "grpc-max-inflight-requests"
    case grpcMaxBufferedRequestBytes = "grpc-max-buffered-request-bytes"
    case maxGroups = "max-groups"
    case maxLongPolls = "max-long-polls"
    case maxClients = "max-clients"
    case auth
    case authMaxClockSkew = "auth-max-clock-skew"
    case bootstrapUserFile = "bootstrap-user-file"
    case tlsCert = "tls-cert"
    case tlsKey = "tls-key"
    case tlsClientCa = "tls-client-ca"
    case adminTlsCert = "admin-tls-cert"
    case adminTlsKey = "admin-tls-key"
    case etcd
    case brokerGroup = "broker-group"
    case nodeId = "node-id"
    case advertiseHost = "advertise-host"
    case etcdLeaseTtl = "etcd-lease-ttl"
    case httpPort = "http-port"
    case replicas
    case replication
    case replicationTimeout = "replication-timeout"
    case replicationPort = "replication-port"
    case replicationSecretFile = "replication-secret-file"
    case replicationTlsCert = "replication-tls-cert"
    case replicationTlsKey = "replication-tls-key"
    case replicationTlsCa = "replication-tls-ca"
    case mqttPort = "mqtt-port"
    case mqttMaxPacketSize = "mqtt-max-packet-size"
    case mqttMaxInflight = "mqtt-max-inflight"
    case mqttMaxQueued = "mqtt-max-queued"

    /// The key in a config file; also the flag without its dashes.
    public var key: String { rawValue }
    public var flag: String { "--" + rawValue }
    public var environmentVariable: String {
        "SLUICE_" + rawValue.uppercased().replacingDashes(with: "_")
    }

    /// The variable naming a config file; flags win over it (`--config`).
    public static let configEnvironmentVariable = "SLUICE_CONFIG"

    /// Help text for the flag, shared by `--help` and the docs.
    public var help: String {
        switch self {
        case .dataDir: "Data folder for the commit log and indexes (default ./data)."
        case .grpcHost: "IP address the RocketMQ gRPC endpoint binds to (default 127.0.0.1)."
        case .grpcPort: "Port of the RocketMQ gRPC endpoint (default 8081; 0 picks a free one)."
        case .adminHost: "IP address the admin HTTP API binds to (default 127.0.0.1)."
        case .adminPort: "Port of the admin HTTP API: /healthz, /readyz, /metrics (default 8082; 0 picks a free one)."
        case .flush: "sync: acknowledge after fdatasync; async: after the page-cache write (default sync)."
        case .flushInterval: "With --flush async, how often the log is synced (default 500ms)."
        case .transactionTimeout: "First check-back after a half message is this old (default 6s)."
        case .transactionCheckInterval: "Time between check-backs of an unresolved transaction (default 30s)."
        case .transactionCheckMax: "Check-backs before a transaction is given up (default 15)."
        case .segmentSize: "Commit-log segment size in bytes; KiB, MiB, GiB suffixes (default 1GiB)."
        case .retentionHours: "Delete sealed segments older than this many hours (default 72)."
        case .logLevel: "trace, debug, info, notice, warning, error or critical (default info)."
        case .adminToken:
            "Bearer token the admin API requires (except /healthz, /readyz); required when --admin-host is not loopback. Prefer the env or config file: flags show in ps."
        case .trace: "on: record each message's life (received, committed, delivered...) in the log; off: record nothing (default on)."
        case .transactionCheckExhausted:
            "When a transaction's check-backs are used up: park (keep it for its producer or an operator) or rollback, as RocketMQ does (default park)."
        case .transactionHold:
            "How long a half message waits in memory for its EndTransaction before it is written to the transaction table: a transaction ended within it costs one table row; 0 writes every half at once (default 500ms, at most 5s)."
        case .transactionEndFlush:
            "With --flush sync, when a producer's commit or rollback of a held half is answered: deferred, once written (the next sync, at most 5ms later, makes it durable; a power loss before it leaves the half to be checked back); sync, after its own fdatasync (default deferred; replicated groups always sync)."
        case .autoCreateGroups: "on: a consumer group appears on first use with the defaults; off: it must be created first (default on)."
        case .grpcServer:
            "direct: Sluice's own gRPC server on swift-nio-http2 (one task per call); grpc-swift: grpc-swift's server (default direct)."
        case .grpcMaxConnections: "gRPC connections the broker keeps open; one more is closed when accepted (default 1024)."
        case .grpcMaxConcurrentStreams:
            "Concurrent calls per gRPC connection, advertised as HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; clients queue the rest (default 100)."
        case .grpcMaxInflightRequests: "Unary gRPC calls the broker works on at once; more get TOO_MANY_REQUESTS (default 4096)."
        case .grpcMaxBufferedRequestBytes:
            "Bytes of message bodies the broker holds for calls in flight; more get TOO_MANY_REQUESTS (default 256MiB)."
        case .maxGroups:
            "Consumer groups at most before creation on first use is refused with TOO_MANY_REQUESTS; `sluice group create` is not limited (default 10000)."
        case .maxLongPolls: "Receives and pulls waiting for messages at once; more are refused with TOO_MANY_REQUESTS (default 10000)."
        case .maxClients: "Clients with an open Telemetry stream at once; more are refused with TOO_MANY_REQUESTS (default 10000)."
        case .auth: "on: every gRPC call must be signed with a known access key (RocketMQ 5 ACL 2.0) and allowed by its rules; off: anyone may call (default off)."
        case .authMaxClockSkew:
            "How far a request's x-mq-date-time may be from the broker's clock; 0 checks nothing (default 15h: the Python client sends local time)."
        case .bootstrapUserFile: "A file of ACCESS_KEY:SECRET_KEY lines: users created with every permission when they do not exist yet."
        case .tlsCert: "PEM certificate chain for TLS on the gRPC port (with --tls-key); reloaded on SIGHUP and every minute."
        case .tlsKey: "PEM private key for --tls-cert."
        case .tlsClientCa: "PEM CA certificates: gRPC clients must present a certificate signed by one of them (mutual TLS)."
        case .adminTlsCert: "PEM certificate chain for HTTPS on the admin port (with --admin-tls-key); reloaded on SIGHUP and every minute."
        case .adminTlsKey: "PEM private key for --admin-tls-cert."
        case .etcd:
            "etcd members for cluster coordination, http://HOST:PORT[,...]: the broker registers and campaigns for its broker group's leadership; unset: a single broker."
        case .brokerGroup: "With --etcd, the broker group this broker belongs to (default default)."
        case .nodeId: "With --etcd, this broker's name, unique in the cluster (default <hostname>-<grpc port>)."
        case .advertiseHost: "With --etcd, the host other brokers and clients reach this broker's gRPC port at (default --grpc-host)."
        case .replicas:
            "With --etcd, the broker group's size: 2 or more replicate the commit log from the elected leader to the other brokers of the group; 1 keeps each broker's log its own (default 1, at most 7)."
        case .replication:
            "With --replicas 2 or more: sync acknowledges a send only once a majority of the group holds it; async once the leader does (default sync)."
        case .replicationTimeout:
            "With --replication sync, how long a send waits for followers before it fails with SLAVE_PERSISTENCE_TIMEOUT (default 5s, 100ms to 60s)."
        case .replicationPort:
            "With --replicas 2 or more, the TCP port followers fetch the leader's log from, on --grpc-host (default 8091; 0 picks a free one)."
        case .replicationSecretFile:
            "With --replicas 2 or more, a file holding the broker group's replication secret (16 to 4096 bytes; the same file on every broker of the group): peers prove they hold it before the replication port serves them. Unset: the group's first broker stores a random secret in etcd and the others read it there."
        case .replicationTlsCert:
            "With --replicas 2 or more, a PEM certificate chain for mutual TLS on the replication port and this broker's connections to its peers (with --replication-tls-key and --replication-tls-ca; read at start)."
        case .replicationTlsKey: "PEM private key for --replication-tls-cert."
        case .replicationTlsCa:
            "PEM CA certificates the group's replication certificates are signed by: peers must present one (both ways); host names are not checked."
        case .etcdLeaseTtl:
            "With --etcd, the lease TTL: a dead broker's registration and leadership expire after this, which bounds fail-over time (default 5s, whole seconds, 2s to 60s)."
        case .httpPort:
            "Port of the RocketMQ HTTP access front (mq-http-sdk), on --grpc-host; unset: off (0 picks a free one)."
        case .mqttPort:
            "Port of the MQTT 3.1.1 and 5.0 access front (1883 by convention), on --grpc-host; unset: off (0 picks a free one)."
        case .mqttMaxPacketSize:
            "Largest MQTT packet a client may send, in bytes (KiB, MiB suffixes); a larger one closes its connection (default: the largest message body plus 64KiB for the topic and header)."
        case .mqttMaxInflight:
            "Per MQTT session: QoS 1 and 2 deliveries awaiting PUBACK or PUBREC, and QoS 2 publishes awaiting PUBREL (default 32, 1 to 1024)."
        case .mqttMaxQueued:
            "Per kept MQTT session (clean session 0): unread messages kept for it while offline; on its return only about the newest this many per topic are delivered; 0: no limit but the log's retention (default 0)."
        }
    }
}

/// Where a setting's value came from, so an error can say exactly what to fix.
public enum SettingSource: Sendable, Hashable {
    case flag
    case environment
    case configFile(path: String)

    func name(of setting: BrokerSetting) -> String {
        switch self {
        case .flag: setting.flag
        case .environment: setting.environmentVariable
        case .configFile(let path): "\(setting.key) in config file \(path)"
        }
    }
}

extension String {
    fileprivate func replacingDashes(with replacement: String) -> String {
        split(separator: "-", omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
