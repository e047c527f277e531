import EtcdWire

/// A broker group's replication secret kept in etcd, for groups whose brokers are given no
/// `--replication-secret-file`: the first member to start stores a random one (create-if-absent,
/// so members starting together agree on one), every later member reads it. Whoever can read
/// etcd's keys can then join the group's replication; so can whoever can rewrite its leader
/// and routes, which is why etcd itself must be reachable only by the cluster
/// (docs/operations.md, "Replication security").
public struct GroupSecret: Sendable {
    let client: EtcdClient
    let key: String

    public init(client: EtcdClient, group: String, keys: ClusterKeys) {
        self.client = client
        self.key = keys.replicationSecret(ofGroup: group)
    }

    /// The group's secret: the stored one, or `candidate` stored now when there is none.
    /// - Throws: `EtcdError` when etcd cannot be reached, `.malformedValue` when the key holds
    ///   something that is not a hex secret of 16 to 4096 bytes.
    public func loadOrCreate(candidate: [UInt8]) async throws(EtcdError) -> [UInt8] {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [.absent(key)]
        txn.success = [.put(key, Array(Self.hex(candidate).utf8))]
        txn.failure = [.get(key)]
        let response = try await client.transaction(txn, "store the replication secret")
        if response.succeeded { return candidate }
        guard let stored = response.responses.first?.responseRange.kvs.first else {
            throw EtcdError(.malformedValue, "\(key) vanished while it was read")
        }
        guard let secret = Self.bytes(ofHex: Array(stored.value)), (16...4096).contains(secret.count) else {
            throw EtcdError(.malformedValue, "\(key) does not hold a hex secret of 16 to 4096 bytes")
        }
        return secret
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func bytes(ofHex text: [UInt8]) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
