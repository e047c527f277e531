import ArgumentParser
import Foundation
import SluiceFuzz
import SluiceTesting

#if canImport(Glibc)
import Glibc
#endif

/// `sluice-bench fuzz`: the structured protocol fuzzer of `swift test` (SluiceFuzz), long,
/// against a broker it starts (release build for `make fuzz`). Prints requests/s, answers and
/// refusals by code, raw HTTP/2 attacks, the broker's RSS before and after, whether every
/// acknowledged message read back intact, and crashes (the broker dying; must be 0). Exits
/// non-zero when the broker died, stopped answering, or lost or changed a message.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz", abstract: "Fuzz every RPC of a running sluice-broker and check it survives intact.")

    @Option(help: "Requests to send.") var requests: Int = 1_000_000
    @Option(help: "Seed (default: random; printed so a run replays).") var seed: UInt64?
    @Option(help: "gRPC connections.") var connections: Int = 8
    @Option(help: "Concurrent workers sharing the connections.") var workers: Int = 32
    @Option(help: "The broker executable (default: sluice-broker beside this program).") var broker: String?
    @Option(help: "Folder for the broker's data (removed afterwards).") var dir: String = "./bench-data/fuzz"

    func run() async throws {
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max)
        let executable = broker ?? (URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/sluice-broker")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let grpcPort = try FreePort.next()
        let adminPort = try FreePort.next()
        // Small limits, so a long run also exercises the refusals over each of them.
        let process = ChildProcess(
            executable: executable,
            arguments: [
                "--data-dir", dir + "/data", "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
                "--segment-size", "64MiB", "--log-level", "error", "--max-groups", "64", "--max-long-polls", "64",
                "--max-clients", "64",
            ])
        try process.start()
        defer {
            process.send(SIGTERM)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let admin = "http://127.0.0.1:\(adminPort)"
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await LoopbackHTTP.get(admin + "/readyz"))?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        print("protocol fuzz: seed \(seed) (replay with --seed \(seed)), \(requests) requests, \(connections) connections, "
            + "\(workers) workers, broker \(executable) pid \(process.pid)")
        var configuration = ProtocolFuzzer.Configuration(grpcPort: grpcPort, adminURL: admin, seed: seed, requests: requests)
        configuration.brokerPid = process.pid
        configuration.connections = connections
        configuration.workers = workers
        configuration.canaryEvery = 1000
        configuration.progress = { print("  \($0)") }
        let report = try await ProtocolFuzzer(configuration).run()
        let crashes = process.isRunning ? 0 : 1
        print(report.summary)
        print("  refusals by code: \(report.refusals.values.reduce(0, +))")
        print("  crashes: \(crashes)")
        if crashes > 0 { print("broker stderr:\n" + process.standardErrorText.suffix(4000)) }
        guard crashes == 0, report.healthz, report.roundTrip, report.missingCanaries.isEmpty else {
            throw ExitCode.failure
        }
    }
}
