import Foundation
import SluiceTesting
import Testing

/// The replication port of real brokers serves only its group: a shared secret (from a file, or
/// the one the first broker stored in etcd) proven in a handshake, and optionally mutual TLS.
@Suite("replicated broker group: the replication port serves only the group", .serialized)
struct ReplicationSecurityTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static func openssl(_ arguments: [String]) async throws {
        let process = ChildProcess(executable: "/usr/bin/openssl", arguments: arguments)
        try process.start()
        let status = await process.waitForExit(timeout: .seconds(60))
        try #require(status == 0, "openssl \(arguments.joined(separator: " ")): \(process.standardErrorText)")
    }

    /// The value etcd holds at `key` (its v3 JSON gateway), nil when absent.
    static func etcdValue(_ key: String, etcd: String) async throws -> String? {
        let body = try JSONSerialization.data(withJSONObject: ["key": Data(key.utf8).base64EncodedString()])
        let reply = try await LoopbackHTTP.send(
            "POST", etcd + "/v3/kv/range", headers: ["Content-Type": "application/json"], body: Array(body))
        guard let kvs = reply.json?["kvs"] as? [[String: Any]], let value = kvs.first?["value"] as? String else { return nil }
        return Data(base64Encoded: value).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("a group with a secret file and mutual TLS acknowledges sync sends (followers copy over TLS); nothing is stored in etcd")
    func secretFileAndTLS() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replication-security") { directory in
                try await Self.openssl([
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    directory + "/ca.key", "-out", directory + "/ca.pem", "-days", "2", "-subj", "/CN=group ca",
                ])
                try "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                    .write(toFile: directory + "/usage.cnf", atomically: false, encoding: .utf8)
                try await Self.openssl([
                    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/broker.key",
                    "-out", directory + "/broker.csr", "-subj", "/CN=broker",
                ])
                try await Self.openssl([
                    "x509", "-req", "-in", directory + "/broker.csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                    "-CAcreateserial", "-out", directory + "/broker.pem", "-days", "2", "-extfile", directory + "/usage.cnf",
                ])
                try "a secret the three brokers share\n".write(toFile: directory + "/secret", atomically: false, encoding: .utf8)
                let brokers = try await ReplicationFailoverTests.startGroup(
                    etcd: etcd.endpoint, in: directory,
                    extraArguments: [
                        "--replication-secret-file", directory + "/secret", "--replication-tls-cert", directory + "/broker.pem",
                        "--replication-tls-key", directory + "/broker.key", "--replication-tls-ca", directory + "/ca.pem",
                    ])
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                let sent = try await ReplicationFailoverTests.send(20, to: leader, prefix: "tls")
                #expect(sent.acked.count == 20, "sync sends need a follower holding them: \(sent.failed)")
                let end = try #require(await leader.endOffset())
                for broker in brokers where broker !== leader {
                    let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) { await broker.endOffset() == end }
                    let replication = await broker.replication()
                    #expect(copied, "\(broker.name) did not copy the leader over TLS: \(String(describing: replication))")
                }
                #expect(try await Self.etcdValue("/sluice/groups/g1/replication-secret", etcd: etcd.endpoint) == nil)
                // The port speaks TLS: it presents the group's certificate.
                let subject = try await TLSEndpointTests.presentedSubject(port: leader.replicationPort, caFile: directory + "/ca.pem")
                #expect(subject.contains("broker"), "\(subject)")
            }
        }
    }

    @Test("without a file the first broker stores the group's secret in etcd; a broker holding another secret copies nothing and says why")
    func etcdSecretAndAnOutsider() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replication-security") { directory in
                var brokers: [Broker] = []
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                for name in ["a", "b"] {
                    let broker = try Broker(
                        name: name, directory: directory + "/" + name, grpcPort: try FreePort.next(), adminPort: try FreePort.next(),
                        replicationPort: try FreePort.next(), etcd: etcd.endpoint)
                    try await broker.start()
                    brokers.append(broker)
                }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let stored = try #require(try await Self.etcdValue("/sluice/groups/g1/replication-secret", etcd: etcd.endpoint))
                #expect(stored.count == 64 && stored.allSatisfy(\.isHexDigit), "\(stored)")
                try await ReplicationFailoverTests.createTopic("orders", on: leader, reaching: brokers)
                #expect(try await ReplicationFailoverTests.send(5, to: leader, prefix: "members").acked.count == 5)

                try "not the group's secret at all\n".write(toFile: directory + "/other-secret", atomically: false, encoding: .utf8)
                let outsider = try Broker(
                    name: "c", directory: directory + "/c", grpcPort: try FreePort.next(), adminPort: try FreePort.next(),
                    replicationPort: try FreePort.next(), etcd: etcd.endpoint,
                    extraArguments: ["--replication-secret-file", directory + "/other-secret"])
                try await outsider.start()
                brokers.append(outsider)
                var lastError = ""
                let refused = await ReplicationFailoverTests.eventually(timeout: .seconds(20)) {
                    lastError = (await outsider.replication()?["lastError"] as? String) ?? ""
                    return lastError.contains("did not prove it holds this group's replication key")
                }
                #expect(refused, "the outsider's replication: \(lastError)")
                #expect(await outsider.endOffset() == 0)
                #expect(await leader.role() == "leader")
                #expect(try await ReplicationFailoverTests.send(5, to: leader, prefix: "after").acked.count == 5)
                #expect(outsider.process.standardErrorText.isEmpty || !outsider.process.standardErrorText.contains("Fatal error"))
            }
        }
    }
}
