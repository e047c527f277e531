import Foundation

/// A real single-member etcd (Debian's `etcd-server`) on free loopback ports with its data in a
/// folder the caller owns, for the cluster-coordination tests. Stopped by pid (`stop`, or
/// `killHard` for a crash).
public final class EtcdServer: Sendable {
    public let process: ChildProcess
    public let clientPort: Int
    public let peerPort: Int

    /// `http://127.0.0.1:<client port>`, what `--etcd` takes.
    public var endpoint: String { "http://127.0.0.1:\(clientPort)" }

    /// Where the binary is: `SLUICE_ETCD_BIN`, else Debian's `/usr/bin/etcd`.
    public static var executable: String {
        ProcessInfo.processInfo.environment["SLUICE_ETCD_BIN"] ?? "/usr/bin/etcd"
    }

    public let dataDirectory: String

    private init(process: ChildProcess, clientPort: Int, peerPort: Int, dataDirectory: String) {
        self.process = process
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.dataDirectory = dataDirectory
    }

    /// A new etcd process on the same ports and data (call after this one has exited).
    public func restarted() async throws -> EtcdServer {
        try await Self.start(dataDirectory: dataDirectory, clientPort: clientPort, peerPort: peerPort)
    }

    /// Starts etcd with its data under `directory` and waits until it answers `/health`.
    /// - Throws: `EtcdServerError` when the binary is missing (install `etcd-server`; `make test`
    ///   does) or etcd does not become healthy within `timeout`.
    /// Pass the ports and folder of a stopped server to start it again with its data.
    public static func start(
        dataDirectory directory: String, clientPort: Int? = nil, peerPort: Int? = nil, timeout: Duration = .seconds(30)
    ) async throws -> EtcdServer {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw EtcdServerError(description: "\(executable) not found: apt-get install etcd-server (make test does)")
        }
        let clientPort = try clientPort ?? FreePort.next()
        let peerPort = try peerPort ?? FreePort.next()
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        let process = ChildProcess(
            executable: executable,
            arguments: [
                "--name", "sluice-test", "--data-dir", directory + "/etcd",
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "sluice-test=\(peer)", "--initial-cluster-state", "new",
                "--log-level", "warn",
            ])
        try process.start()
        let server = EtcdServer(process: process, clientPort: clientPort, peerPort: peerPort, dataDirectory: directory)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reply = try? await LoopbackHTTP.get("\(client)/health", timeoutSeconds: 2), reply.status == 200,
                reply.text.contains("true")
            {
                return server
            }
            guard process.isRunning else { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        await process.killHard()
        throw EtcdServerError(description: "etcd did not become healthy on \(client); stderr: \(process.standardErrorText)")
    }

    /// SIGTERM and wait for the exit.
    public func stop() async {
        process.send(SIGTERM)
        await process.waitForExit(timeout: .seconds(10))
    }

    deinit {
        process.send(SIGKILL)
    }
}

public struct EtcdServerError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Runs `body` with a fresh etcd in a temp folder; etcd is stopped and the folder removed after.
public func withEtcdServer<T>(_ body: (EtcdServer) async throws -> T) async throws -> T {
    try await withTemporaryDirectory(prefix: "sluice-etcd") { directory in
        let server = try await EtcdServer.start(dataDirectory: directory)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}
