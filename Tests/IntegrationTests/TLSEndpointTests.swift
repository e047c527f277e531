import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SluiceTesting
import SluiceWire
import Testing

/// TLS on the gRPC and admin ports with certificates made here by `openssl`: a test CA and server
/// certificates for 127.0.0.1/localhost; the CLI over HTTPS with `--cacert`; a certificate
/// replaced on disk and picked up on SIGHUP without a restart.
@Suite("TLS on the gRPC and admin ports")
struct TLSEndpointTests {
    static func openssl(_ arguments: [String]) async throws {
        let process = ChildProcess(executable: "/usr/bin/openssl", arguments: arguments)
        try process.start()
        let status = await process.waitForExit(timeout: .seconds(60))
        try #require(status == 0, "openssl \(arguments.joined(separator: " ")): \(process.standardErrorText)")
    }

    /// `ca.pem`/`ca.key` in `directory`, then a server pair `<name>.pem`/`<name>.key` with CN `name`.
    static func makeCA(in directory: String) async throws {
        try await openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/ca.key", "-out", directory + "/ca.pem",
            "-days", "2", "-subj", "/CN=sluice test CA",
        ])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/san.cnf", atomically: false, encoding: .utf8)
    }

    static func makeServerCertificate(_ name: String, in directory: String) async throws {
        try await openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr",
            "-subj", "/CN=\(name)",
        ])
        try await openssl([
            "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
            "-CAcreateserial", "-out", "\(directory)/\(name).pem", "-days", "2", "-extfile", directory + "/san.cnf",
        ])
    }

    /// The subject the server presents to a new TLS connection, as `openssl s_client` prints it.
    static func presentedSubject(port: Int, caFile: String) async throws -> String {
        let process = ChildProcess(
            executable: "/usr/bin/openssl",
            arguments: ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caFile, "-alpn", "h2"])
        try process.start()
        _ = await process.waitForExit(timeout: .seconds(20))
        return process.outputLines.first { $0.hasPrefix("subject=") } ?? ""
    }

    @Test("gRPC over TLS works for a client trusting the CA, a plaintext client is refused, SIGHUP reloads the certificate")
    func grpcTLSAndReload() async throws {
        try await withTemporaryDirectory(prefix: "sluice-tls-test") { directory in
            try await Self.makeCA(in: directory)
            try await Self.makeServerCertificate("first", in: directory)
            try FileManager.default.copyItem(atPath: directory + "/first.pem", toPath: directory + "/server.pem")
            try FileManager.default.copyItem(atPath: directory + "/first.key", toPath: directory + "/server.key")
            try await withBroker(extraArguments: [
                "--tls-cert", directory + "/server.pem", "--tls-key", directory + "/server.key",
            ]) { broker in
                _ = try #require(await broker.waitUntilReady())
                try await broker.createTopic("orders", type: "normal")
                let secure = try HTTP2ClientTransport.Posix(
                    target: .ipv4(host: "127.0.0.1", port: broker.grpcPort),
                    transportSecurity: .tls {
                        $0.trustRoots = .certificates([.file(path: directory + "/ca.pem", format: .pem)])
                        $0.serverCertificateVerification = .noHostnameVerification
                    })
                let code = try await withGRPCClient(transport: secure) { grpc in
                    var request = Apache_Rocketmq_V2_QueryRouteRequest()
                    request.topic.name = "orders"
                    let client = Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
                    return try await client.queryRoute(request: ClientRequest(message: request)).status.code
                }
                #expect(code == .ok)

                let plain = try HTTP2ClientTransport.Posix(
                    target: .ipv4(host: "127.0.0.1", port: broker.grpcPort), transportSecurity: .plaintext)
                await #expect(throws: (any Error).self) {
                    try await withGRPCClient(transport: plain) { grpc in
                        var options = CallOptions.defaults
                        options.timeout = .seconds(5)
                        var request = Apache_Rocketmq_V2_QueryRouteRequest()
                        request.topic.name = "orders"
                        _ = try await Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
                            .queryRoute(request: ClientRequest(message: request), options: options)
                    }
                }

                #expect(try await Self.presentedSubject(port: broker.grpcPort, caFile: directory + "/ca.pem").contains("first"))
                try await Self.makeServerCertificate("second", in: directory)
                // Key first, then the certificate: a reload between the two keeps the old pair
                // (the key would not match), never a broken one.
                try FileManager.default.removeItem(atPath: directory + "/server.key")
                try FileManager.default.copyItem(atPath: directory + "/second.key", toPath: directory + "/server.key")
                try FileManager.default.removeItem(atPath: directory + "/server.pem")
                try FileManager.default.copyItem(atPath: directory + "/second.pem", toPath: directory + "/server.pem")
                broker.process.send(SIGHUP)
                let deadline = ContinuousClock.now + .seconds(20)
                var subject = ""
                while ContinuousClock.now < deadline {
                    subject = try await Self.presentedSubject(port: broker.grpcPort, caFile: directory + "/ca.pem")
                    if subject.contains("second") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(subject.contains("second"), "after SIGHUP the server still presents \(subject)")
                #expect(broker.process.isRunning)
            }
        }
    }

    @Test("the admin API over HTTPS: the CLI trusts --cacert (or SLUICE_CACERT) and refuses an unknown CA")
    func adminHTTPS() async throws {
        try await withTemporaryDirectory(prefix: "sluice-tls-test") { directory in
            try await Self.makeCA(in: directory)
            try await Self.makeServerCertificate("admin", in: directory)
            try await withBroker(extraArguments: [
                "--admin-tls-cert", directory + "/admin.pem", "--admin-tls-key", directory + "/admin.key",
            ]) { broker in
                let url = "https://127.0.0.1:\(broker.adminPort)"
                var ready = false
                let deadline = ContinuousClock.now + RunningBroker.startupTimeout
                while !ready && ContinuousClock.now < deadline {
                    let run = try await TopicCommandTests.sluice(["health", "--cacert", directory + "/ca.pem"], admin: url)
                    ready = run.status == 0
                    if !ready { try await Task.sleep(for: .milliseconds(200)) }
                }
                #expect(ready)
                let created = try await TopicCommandTests.sluice(
                    ["topic", "create", "orders", "--type", "normal", "--cacert", directory + "/ca.pem"], admin: url)
                #expect(created.status == 0, "\(created.stderr)")
                let untrusted = try await TopicCommandTests.sluice(["topic", "list"], admin: url)
                #expect(untrusted.status == 2, "an unknown CA was trusted: \(untrusted.stdout)")
                let plain = try await TopicCommandTests.sluice(["topic", "list"], admin: "http://127.0.0.1:\(broker.adminPort)")
                #expect(plain.status != 0)
            }
        }
    }

    @Test("--tls-client-ca: a client without a certificate from that CA is refused, one with it served")
    func mutualTLS() async throws {
        try await withTemporaryDirectory(prefix: "sluice-tls-test") { directory in
            try await Self.makeCA(in: directory)
            try await Self.makeServerCertificate("server", in: directory)
            try "extendedKeyUsage=clientAuth\n".write(toFile: directory + "/client.cnf", atomically: false, encoding: .utf8)
            try await Self.openssl([
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/client.key", "-out", directory + "/client.csr",
                "-subj", "/CN=client",
            ])
            try await Self.openssl([
                "x509", "-req", "-in", directory + "/client.csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                "-CAcreateserial", "-out", directory + "/client.pem", "-days", "2", "-extfile", directory + "/client.cnf",
            ])
            try await withBroker(extraArguments: [
                "--tls-cert", directory + "/server.pem", "--tls-key", directory + "/server.key",
                "--tls-client-ca", directory + "/ca.pem",
            ]) { broker in
                _ = try #require(await broker.waitUntilReady())
                try await broker.createTopic("orders", type: "normal")
                func route(withCertificate: Bool) async throws -> Apache_Rocketmq_V2_Code {
                    let transport = try HTTP2ClientTransport.Posix(
                        target: .ipv4(host: "127.0.0.1", port: broker.grpcPort),
                        transportSecurity: withCertificate
                            ? .mTLS(
                                certificateChain: [.file(path: directory + "/client.pem", format: .pem)],
                                privateKey: .file(path: directory + "/client.key", format: .pem)
                            ) {
                                $0.trustRoots = .certificates([.file(path: directory + "/ca.pem", format: .pem)])
                                $0.serverCertificateVerification = .noHostnameVerification
                            }
                            : .tls {
                                $0.trustRoots = .certificates([.file(path: directory + "/ca.pem", format: .pem)])
                                $0.serverCertificateVerification = .noHostnameVerification
                            })
                    return try await withGRPCClient(transport: transport) { grpc in
                        var options = CallOptions.defaults
                        // A bound, not a speed check: a debug broker's TLS handshake on a loaded
                        // two-core machine took longer than 5 s once.
                        options.timeout = .seconds(30)
                        var request = Apache_Rocketmq_V2_QueryRouteRequest()
                        request.topic.name = "orders"
                        return try await Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
                            .queryRoute(request: ClientRequest(message: request), options: options).status.code
                    }
                }
                #expect(try await route(withCertificate: true) == .ok)
                await #expect(throws: (any Error).self) { _ = try await route(withCertificate: false) }
            }
        }
    }

    @Test("a certificate without its key, or a client CA without TLS, is refused at start")
    func badFlags() async throws {
        try await withTemporaryDirectory(prefix: "sluice-tls-test") { directory in
            try await Self.makeCA(in: directory)
            for arguments in [
                ["--tls-cert", directory + "/ca.pem"], ["--tls-client-ca", directory + "/ca.pem"],
                ["--admin-tls-key", directory + "/ca.key"], ["--tls-cert", directory + "/missing.pem", "--tls-key", directory + "/ca.key"],
            ] {
                let process = try RunningBroker.process(
                    dataDirectory: directory + "/data", grpcPort: try FreePort.next(), adminPort: try FreePort.next(),
                    extraArguments: arguments)
                try process.start()
                let status = await process.waitForExit(timeout: .seconds(30))
                #expect(status != 0, "\(arguments) was accepted")
                #expect(process.standardErrorText.contains("--tls") || process.standardErrorText.contains("--admin-tls"),
                        "\(process.standardErrorText)")
            }
        }
    }
}
