import Logging
import SluiceCluster
import SluiceTesting

/// A fresh etcd and a client connected to it.
func withEtcd<T: Sendable>(_ body: (EtcdServer, EtcdClient) async throws -> T) async throws -> T {
    try await withEtcdServer { server in
        // 30 s, not the broker's 5 s: a fresh etcd on a loaded two-core CI machine can take
        // seconds to answer its first writes (fsync), and these tests are about behaviour, not speed.
        try await EtcdClient.withClient(
            endpoints: try EtcdEndpoints(parsing: server.endpoint), requestTimeout: .seconds(30)
        ) { client in
            try await body(server, client)
        }
    }
}

/// Polls `condition` every 50 ms until it holds, at most `timeout`; returns whether it did.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
