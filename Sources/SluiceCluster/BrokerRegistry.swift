/// What a live broker publishes about itself under `<root>/brokers/<node-id>`.
public struct BrokerRecord: Codable, Sendable, Hashable {
    public var nodeID: String
    public var brokerGroup: String
    /// Where clients reach its RocketMQ gRPC endpoint (`--advertise-host` and the gRPC port).
    public var grpcAddress: String
    /// Its admin HTTP API, for operators and tools.
    public var adminAddress: String
    /// Wall-clock milliseconds when it registered.
    public var registeredAtMs: Int64
    /// Its replication port (`--replicas` 2 or more), where peers ask how complete its log is
    /// before an election; absent without replication (and in records of older brokers).
    public var replicationAddress: String?

    public init(
        nodeID: String, brokerGroup: String, grpcAddress: String, adminAddress: String, registeredAtMs: Int64,
        replicationAddress: String? = nil
    ) {
        self.replicationAddress = replicationAddress
        self.nodeID = nodeID
        self.brokerGroup = brokerGroup
        self.grpcAddress = grpcAddress
        self.adminAddress = adminAddress
        self.registeredAtMs = registeredAtMs
    }
}

/// Live brokers: each registers under its own lease, so a broker that dies (or loses etcd for a
/// TTL) drops out of the list without anyone cleaning up after it.
public struct BrokerRegistry: Sendable {
    public let client: EtcdClient
    public let keys: ClusterKeys

    public init(client: EtcdClient, keys: ClusterKeys = ClusterKeys()) {
        self.client = client
        self.keys = keys
    }

    /// Publishes `record` attached to `lease`; the caller keeps the lease alive
    /// (`EtcdClient.keepAlive`), and its `.leaseLost` is how a lost registration is noticed.
    public func register(_ record: BrokerRecord, lease: EtcdLease) async throws(EtcdError) {
        try ClusterKeys.checkSegment(record.nodeID, "node id")
        try ClusterKeys.checkSegment(record.brokerGroup, "broker group")
        try await client.put(keys.broker(record.nodeID), StoredJSON.encode(record), lease: lease.id)
    }

    /// Removes the registration at once (a graceful stop; revoking the lease does it too).
    public func deregister(nodeID: String) async throws(EtcdError) {
        try await client.delete(keys.broker(nodeID))
    }

    /// Every registered broker, by node id.
    public func liveBrokers() async throws(EtcdError) -> [BrokerRecord] {
        let (values, _) = try await client.list(prefix: keys.brokersPrefix)
        var records: [BrokerRecord] = []
        for value in values { records.append(try StoredJSON.decode(BrokerRecord.self, from: value)) }
        return records
    }
}
