import SluiceCluster
import SluiceTesting
import Testing

@Suite("EtcdClient.list over a real etcd")
struct EtcdListTests {
    @Test("a prefix larger than a page is read whole, sorted, at one revision, and nothing outside it")
    func pagedList() async throws {
        try await withEtcd { _, client in
            let names = (0..<25).map { "/paged/key-\($0 < 10 ? "0" : "")\($0)" }
            for name in names.shuffled() { try await client.put(name, Array(name.utf8)) }
            try await client.put("/paged0", [1])  // shares the prefix's bytes, but not its folder
            try await client.put("/pagee", [2])  // past the prefix's range end
            let written = try await client.put("/other/key", [3])

            for pageSize in [1, 7, 25, 500] {
                let (values, revision) = try await client.list(prefix: "/paged/", pageSize: pageSize)
                #expect(values.map(\.key) == names, "page size \(pageSize)")
                #expect(values.map(\.value) == names.map { Array($0.utf8) })
                #expect(revision == written, "page size \(pageSize): read at \(revision), store at \(written)")
            }
            #expect(try await client.list(prefix: "/absent/", pageSize: 3).values.isEmpty)
        }
    }
}
