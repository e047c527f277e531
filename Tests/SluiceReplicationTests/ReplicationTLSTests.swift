import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@testable import SluiceReplication

/// Mutual TLS on the replication port, with certificates made here by `openssl`.
@Suite("replication port: mutual TLS", .serialized)
struct ReplicationTLSTests {
    static func openssl(_ arguments: [String]) async throws {
        let process = ChildProcess(executable: "/usr/bin/openssl", arguments: arguments)
        try process.start()
        let status = await process.waitForExit(timeout: .seconds(60))
        try #require(status == 0, "openssl \(arguments.joined(separator: " ")): \(process.standardErrorText)")
    }

    /// A CA `<ca>.pem`, and `<name>.pem`/`<name>.key` signed by it for both TLS roles.
    static func makeCertificate(_ name: String, ca: String, in directory: String) async throws {
        if !FileManager.default.fileExists(atPath: "\(directory)/\(ca).pem") {
            try await openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "\(directory)/\(ca).key", "-out", "\(directory)/\(ca).pem", "-days", "2", "-subj", "/CN=\(ca)",
            ])
            try "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                .write(toFile: directory + "/usage.cnf", atomically: false, encoding: .utf8)
        }
        try await openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(directory)/\(name).key",
            "-out", "\(directory)/\(name).csr", "-subj", "/CN=\(name)",
        ])
        try await openssl([
            "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(ca).pem", "-CAkey", "\(directory)/\(ca).key",
            "-CAcreateserial", "-out", "\(directory)/\(name).pem", "-days", "2", "-extfile", directory + "/usage.cnf",
        ])
    }

    @Test("a follower copies over TLS; a plaintext client, a certificate of another CA, and another group key are refused")
    func copiesOverTLS() async throws {
        try await withTemporaryDirectory(prefix: "sluice-replication-tls") { directory in
            try await Self.makeCertificate("leader", ca: "group-ca", in: directory)
            try await Self.makeCertificate("follower", ca: "group-ca", in: directory)
            try await Self.makeCertificate("stranger", ca: "other-ca", in: directory)
            func tls(_ name: String, ca: String = "group-ca") throws -> ReplicationTLS {
                try ReplicationTLS(
                    certificateChain: "\(directory)/\(name).pem", privateKey: "\(directory)/\(name).key",
                    trustRoots: "\(directory)/\(ca).pem")
            }
            let followerTLS = try tls("follower")
            try await withLeader(configure: { $0.tls = try? tls("leader") }) { leader, port in
                for index in 0..<20 {
                    _ = try await leader.log.append(
                        MessageRecord(
                            topic: "orders", queueId: 0, messageId: "", tags: "", keys: [], properties: [],
                            body: ByteBuffer(string: "over tls \(index)"), bornTimestampMs: 1_700_000_000_000))
                }
                // Members with the group's certificates and key are served.
                let status = await Replica.queryStatus(
                    host: "127.0.0.1", port: port, timeout: .seconds(5), nodeID: "f", key: testKey, tls: followerTLS)
                #expect(status?.isLeader == true)
                // Refused: plaintext, another CA's certificate (both ways: it distrusts ours too),
                // our CA's certificate but another key.
                #expect(await Replica.queryStatus(host: "127.0.0.1", port: port, timeout: .seconds(3), nodeID: "f", key: testKey) == nil)
                let stranger = try tls("stranger", ca: "other-ca")
                #expect(await Replica.queryStatus(host: "127.0.0.1", port: port, timeout: .seconds(3), nodeID: "f", key: testKey, tls: stranger) == nil)
                let strangerTrustingUs = try tls("stranger", ca: "group-ca")
                #expect(await Replica.queryStatus(
                    host: "127.0.0.1", port: port, timeout: .seconds(3), nodeID: "f", key: testKey, tls: strangerTrustingUs) == nil)
                let otherKey = try ReplicationKey(secret: Array("another secret of the same group".utf8), group: "test")
                #expect(await Replica.queryStatus(
                    host: "127.0.0.1", port: port, timeout: .seconds(3), nodeID: "f", key: otherKey, tls: followerTLS) == nil)
                // Raw bytes of a request (no TLS) get no answer.
                let plain = try await RawReplicationClient.send(
                    ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1, within: .seconds(3), authenticated: false)
                #expect(plain.answers.isEmpty)

                // A real follower copies the whole log over TLS.
                let log = try await CommitLog.open(CommitLogConfiguration(directory: directory + "/f"), logger: quietLogger)
                var configuration = ReplicaConfiguration(
                    nodeID: "f", replicas: 3, mode: .async, timeout: .seconds(5), host: "127.0.0.1", port: 0, key: testKey)
                configuration.tls = followerTLS
                configuration.fetchWait = .milliseconds(50)
                let follower = try await Replica.open(log: log, configuration: configuration, logger: quietLogger)
                let running = Task { await follower.run() }
                follower.follow(LeaderTarget(nodeID: "leader", epoch: 1, host: "127.0.0.1", port: port))
                let deadline = ContinuousClock.now + .seconds(20)
                while log.endOffset != leader.log.endOffset, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(log.endOffset == leader.log.endOffset, "\(String(describing: follower.snapshot.lastError))")
                running.cancel()
                await running.value
                await log.close()
            }
        }
    }

    @Test("unusable TLS files are refused with the file named")
    func badFiles() async throws {
        try await withTemporaryDirectory(prefix: "sluice-replication-tls") { directory in
            try "not a certificate".write(toFile: directory + "/bad.pem", atomically: false, encoding: .utf8)
            let error = #expect(throws: ReplicationError.self) {
                try ReplicationTLS(certificateChain: directory + "/bad.pem", privateKey: directory + "/bad.pem", trustRoots: directory + "/bad.pem")
            }
            #expect(error?.message.contains("bad.pem is not a PEM certificate chain") == true, "\(String(describing: error))")
        }
    }
}
