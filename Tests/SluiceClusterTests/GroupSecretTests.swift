import EtcdWire
import SluiceCluster
import SluiceTesting
import Testing

@Suite("a broker group's replication secret in etcd", .serialized)
struct GroupSecretTests {
    @Test("the first broker's candidate is stored; later ones (and racing ones) get the same secret; groups differ")
    func storedOnce() async throws {
        try await withEtcd { _, client in
            let first = try await GroupSecret(client: client, group: "g1", keys: ClusterKeys())
                .loadOrCreate(candidate: Array(repeating: 1, count: 32))
            #expect(first == Array(repeating: 1, count: 32))
            let racing = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for index in 0..<4 {
                    group.addTask {
                        try await GroupSecret(client: client, group: "g1", keys: ClusterKeys())
                            .loadOrCreate(candidate: Array(repeating: UInt8(10 + index), count: 32))
                    }
                }
                var all: [[UInt8]] = []
                for try await secret in group { all.append(secret) }
                return all
            }
            #expect(racing.allSatisfy { $0 == first })
            let other = try await GroupSecret(client: client, group: "g2", keys: ClusterKeys())
                .loadOrCreate(candidate: Array(repeating: 2, count: 32))
            #expect(other == Array(repeating: 2, count: 32))
            let stored = try await client.get(ClusterKeys().replicationSecret(ofGroup: "g1")).value
            #expect(stored.map { String(decoding: $0.value, as: UTF8.self) } == String(repeating: "01", count: 32))
        }
    }

    @Test("a key holding something else is refused, not used as a secret")
    func malformedRefused() async throws {
        try await withEtcd { _, client in
            for value in ["not hex", "abc", "00ff", ""] {
                _ = try await client.put(ClusterKeys().replicationSecret(ofGroup: "bad"), Array(value.utf8))
                let error = await #expect(throws: EtcdError.self) {
                    try await GroupSecret(client: client, group: "bad", keys: ClusterKeys())
                        .loadOrCreate(candidate: Array(repeating: 1, count: 32))
                }
                #expect(error?.code == .malformedValue, "\(value): \(String(describing: error))")
            }
        }
    }
}
