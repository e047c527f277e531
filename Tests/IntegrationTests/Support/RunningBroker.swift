import Foundation
import SluiceTesting
import Testing

/// A real `sluice-broker` child on free loopback ports, for tests that need one running.
struct RunningBroker {
    let process: ChildProcess
    let dataDirectory: String
    let grpcPort: Int
    let adminPort: Int

    var adminURL: String { "http://127.0.0.1:\(adminPort)" }

    /// Generous on a 2-core machine that may be compiling at the same time.
    static let startupTimeout: Duration = .seconds(60)
    static let exitTimeout: Duration = .seconds(60)

    /// Small segments: the default 1 GiB would be preallocated in the temp folder.
    static let testArguments = ["--segment-size", "1MiB", "--log-level", "warning"]

    /// The child for `sluice-broker` with these ports and folder, not yet started.
    static func process(
        dataDirectory: String, grpcPort: Int, adminPort: Int, extraArguments: [String] = [],
        environment: [String: String]? = nil
    ) throws -> ChildProcess {
        ChildProcess(
            executable: try BuildProducts.executable("sluice-broker"),
            arguments: [
                "--data-dir", dataDirectory, "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
            ] + testArguments + extraArguments,
            environment: environment)
    }

    static func endpointLines(grpcPort: Int, adminPort: Int) -> [String] {
        [
            "sluice-broker: gRPC listening on 127.0.0.1:\(grpcPort)",
            "sluice-broker: admin HTTP listening on 127.0.0.1:\(adminPort)",
        ]
    }

    /// Starts a broker and waits until it has printed both endpoint lines.
    static func start(dataDirectory: String, extraArguments: [String] = []) async throws -> RunningBroker {
        let grpcPort = try FreePort.next()
        let adminPort = try FreePort.next()
        let process = try process(
            dataDirectory: dataDirectory, grpcPort: grpcPort, adminPort: adminPort, extraArguments: extraArguments)
        try process.start()
        let expected = endpointLines(grpcPort: grpcPort, adminPort: adminPort)
        let listening = await process.waitForOutput(timeout: startupTimeout) { lines in
            expected.allSatisfy(lines.contains)
        }
        guard listening else {
            await process.killHard()
            throw BrokerDidNotStart(stdout: process.outputLines, stderr: process.standardErrorText)
        }
        return RunningBroker(process: process, dataDirectory: dataDirectory, grpcPort: grpcPort, adminPort: adminPort)
    }

    /// Polls `/readyz` until it answers 200, at most `timeout`.
    func waitUntilReady(timeout: Duration = startupTimeout) async -> HTTPReply? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reply = try? await HTTPProbe.get("\(adminURL)/readyz"), reply.status == 200 { return reply }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    struct BrokerDidNotStart: Error, CustomStringConvertible {
        var stdout: [String]
        var stderr: String
        var description: String { "broker did not print its endpoint lines; stdout: \(stdout); stderr: \(stderr)" }
    }
}

/// Runs `body` with a started broker in a fresh temp folder; the broker is killed afterwards
/// whatever happens (tests that stop it themselves make the kill a no-op).
func withBroker<T>(
    extraArguments: [String] = [], _ body: (RunningBroker) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory(prefix: "sluice-broker-test") { directory in
        let broker = try await RunningBroker.start(dataDirectory: directory + "/data", extraArguments: extraArguments)
        do {
            let result = try await body(broker)
            await broker.process.killHard()
            return result
        } catch {
            await broker.process.killHard()
            throw error
        }
    }
}
