import SluiceStorage
import NIOCore
import Synchronization
import Logging
/// How one broker takes part in its group's replication.
public struct ReplicaConfiguration: Sendable {
    public var nodeID: String
    /// Group size (`--replicas`): the leader plus followers.
    public var replicas: Int
    public var mode: ReplicationMode
    /// How long a sync append waits for its followers (`--replication-timeout`).
    public var timeout: Duration
    /// Where the replication port listens (`--replication-port`; 0 = any free port).
    public var host: String
    public var port: Int
    /// The most log bytes one fetch returns.
    public var fetchMaxBytes: Int = 4 << 20
    /// How long a caught-up follower's fetch waits at the leader for new records.
    public var fetchWait: Duration = .milliseconds(500)
    /// Connections the replication port serves at once; one more is answered with an
    /// `overloaded` refusal and closed. A group needs one per follower, plus short-lived status
    /// queries and snapshot downloads; the bound keeps a peer opening connections from taking
    /// the broker's file descriptors and memory (each may hold a fetch's answer of `fetchMaxBytes`).
    public var maxConnections = 64
    /// The group's key (`ReplicationKey`): every connection proves it holds it before it is
    /// served. nil until known (a broker reading its group's secret from etcd gets it with
    /// `Replica.useKey`): until then the port refuses every connection and nothing is fetched.
    public var key: ReplicationKey?
    /// Mutual TLS on the port and on this replica's connections to its peers (nil: plain TCP).
    public var tls: ReplicationTLS?
    /// How long a new connection may take to finish the handshake before it is closed.
    public var handshakeTimeout: Duration = .seconds(5)
    /// Connections in their handshake at once (not yet counted in `maxConnections`); one more is
    /// refused as `overloaded`. Kept apart so strangers, who never pass the handshake, cannot
    /// take the places of the group's followers.
    public var maxHandshakes = 16
    /// A connection that sends nothing this long while owed no answer is closed
    /// (`ReplicationIdleGuard`).
    public var idleTimeout: Duration = .seconds(120)
    /// The group's latest epoch as its coordinator (etcd) holds it now; nil when it cannot tell
    /// (unreachable). A leader asks it before a member's fetch naming a newer epoch deposes it:
    /// an epoch the coordinator never gave out comes from a faulty member, not from a newer
    /// leader, and is refused instead. Without it (nil here) such a fetch deposes at once.
    public var latestEpoch: (@Sendable () async -> Int64?)?

    public init(
        nodeID: String, replicas: Int, mode: ReplicationMode, timeout: Duration, host: String, port: Int,
        key: ReplicationKey? = nil
    ) {
        self.key = key
        self.nodeID = nodeID
        self.replicas = replicas
        self.mode = mode
        self.timeout = timeout
        self.host = host
        self.port = port
    }

    /// Followers that must hold a record before a sync append is acknowledged: with the leader,
    /// a majority of the group (1 of 2 followers for 3 replicas; 0 for a single broker).
    public var requiredAcknowledgements: Int { replicas / 2 }

    /// Snapshots a leader offers at once (each a copy of the broker's database on disk): one per
    /// follower of the group, and one spare for a follower whose earlier connection has not closed yet.
    public var maxSnapshotOffers: Int { max(2, replicas) }
}

/// The leader a follower copies from, as the election published it.
public struct LeaderTarget: Sendable, Equatable {
    public var nodeID: String
    public var epoch: Int64
    public var host: String
    public var port: Int

    public init(nodeID: String, epoch: Int64, host: String, port: Int) {
        self.nodeID = nodeID
        self.epoch = epoch
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (the last colon splits, so `[::1]:8091` style hosts keep theirs).
    public init?(nodeID: String, epoch: Int64, address: String) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(nodeID: nodeID, epoch: epoch, host: host, port: port)
    }
}
