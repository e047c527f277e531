import EtcdWire
import Foundation

/// The broker that sends the transaction check-backs of one producer group.
public struct CheckOwner: Codable, Sendable, Hashable {
    public var producerGroup: String
    public var nodeID: String
    public var brokerGroup: String

    public init(producerGroup: String, nodeID: String, brokerGroup: String) {
        self.producerGroup = producerGroup
        self.nodeID = nodeID
        self.brokerGroup = brokerGroup
    }
}

/// Which broker owns the transaction checks of which producer group, one key per producer group
/// under `<root>/txn-check-owners/`, attached to the owner's lease: when the owner dies the claim
/// expires with it and another broker can take the group over. At most one owner at a time, so a
/// producer is not asked about one transaction by two brokers at once.
public struct TransactionCheckOwnership: Sendable {
    public let client: EtcdClient
    public let keys: ClusterKeys

    public init(client: EtcdClient, keys: ClusterKeys = ClusterKeys()) {
        self.client = client
        self.keys = keys
    }

    /// Claims `claim.producerGroup` for `claim.nodeID` on `lease` unless someone owns it already;
    /// returns the owner after the attempt (the claimant, or the earlier owner).
    public func claim(_ claim: CheckOwner, lease: EtcdLease) async throws(EtcdError) -> CheckOwner {
        try ClusterKeys.checkSegment(claim.producerGroup, "producer group")
        try ClusterKeys.checkSegment(claim.nodeID, "node id")
        let key = keys.checkOwner(ofProducerGroup: claim.producerGroup)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [.absent(key)]
        txn.success = [.put(key, StoredJSON.encode(claim), lease: lease.id)]
        txn.failure = [.get(key)]
        let response = try await client.transaction(txn, "claim checks of \(claim.producerGroup)")
        if response.succeeded { return claim }
        guard let held = response.responses.first?.responseRange.kvs.first else {
            // Released between the compare and the read: nobody holds it; let the caller retry.
            throw EtcdError(.rejected, "checks of \(claim.producerGroup) changed hands during the claim; retry")
        }
        return try StoredJSON.decode(CheckOwner.self, from: EtcdKeyValue(held))
    }

    public func owner(of producerGroup: String) async throws(EtcdError) -> CheckOwner? {
        try ClusterKeys.checkSegment(producerGroup, "producer group")
        let (value, _) = try await client.get(keys.checkOwner(ofProducerGroup: producerGroup))
        return try value.map { kv throws(EtcdError) in try StoredJSON.decode(CheckOwner.self, from: kv) }
    }

    /// Gives the group up, only if `lease` still holds it. Returns whether it did.
    @discardableResult
    public func release(_ producerGroup: String, lease: EtcdLease) async throws(EtcdError) -> Bool {
        try ClusterKeys.checkSegment(producerGroup, "producer group")
        let key = keys.checkOwner(ofProducerGroup: producerGroup)
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.target = .lease
        compare.result = .equal
        compare.lease = lease.id
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        txn.success = [.delete(key)]
        return try await client.transaction(txn, "release checks of \(producerGroup)").succeeded
    }

    /// Every producer group's owner.
    public func all() async throws(EtcdError) -> [CheckOwner] {
        let (values, _) = try await client.list(prefix: keys.checkOwnersPrefix)
        var owners: [CheckOwner] = []
        for value in values { owners.append(try StoredJSON.decode(CheckOwner.self, from: value)) }
        return owners
    }
}
