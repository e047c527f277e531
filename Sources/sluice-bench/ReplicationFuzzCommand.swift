import ArgumentParser
import Foundation
import SluiceFuzz
import SluiceTesting

/// `sluice-bench fuzz-replication`: the replication-port fuzzer of `swift test` (SluiceFuzz),
/// long, against a group it starts (a real etcd, a leader and a follower, `--replicas 2`;
/// release brokers for `make fuzz`). Prints actions and answers by kind, the connection storm,
/// each broker's RSS before and after, protocol faults and crashes (both must be 0). Exits
/// non-zero when a broker died, stopped answering, lost its role, or answered wrongly.
struct ReplicationFuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-replication",
        abstract: "Fuzz the replication port of a leader and a follower sluice-broker and check both survive.")

    @Option(help: "Actions to send (frames, damaged frames, garbage, sequences).") var requests: Int = 200_000
    @Option(help: "Seed (default: random; printed so a run replays).") var seed: UInt64?
    @Option(help: "Concurrent workers (each its own connection), split between leader and follower.") var workers: Int = 8
    @Option(help: "The broker executable (default: sluice-broker beside this program).") var broker: String?
    @Option(help: "Folder for etcd's and the brokers' data (removed afterwards).") var dir: String = "./bench-data/fuzz-replication"

    func run() async throws {
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max)
        let executable = broker ?? (URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/sluice-broker")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let absolute = URL(fileURLWithPath: dir).standardizedFileURL.path
        let pair = try await ReplicatedBrokerPair.start(executable: executable, directory: absolute, logLevel: "error")
        guard let (leader, follower) = await pair.settled(timeout: .seconds(30)) else {
            await pair.stop()
            throw ExitCode.failure
        }
        do {
            try await pair.fill(leader, messages: 2_000)
        } catch {
            print("replication fuzz: cannot fill the leader's log: \(error)")
            await pair.stop()
            throw ExitCode.failure
        }
        print("replication fuzz: seed \(seed) (replay with --seed \(seed)), \(requests) actions, \(workers) workers, "
            + "leader \(leader.name) pid \(leader.process.pid), follower \(follower.name) pid \(follower.process.pid)")
        let members = [leader, follower]
        let before = members.map { ProcessMemory.residentKilobytes(pid: $0.process.pid) }
        var configuration = ReplicationFuzzer.Configuration(
            targets: members.map { ($0.name, $0.replicationPort) }, seed: seed, requests: requests, key: pair.replicationKey)
        configuration.workers = workers
        configuration.progress = { print("  \($0)") }
        let report: ReplicationFuzzReport
        do {
            report = try await ReplicationFuzzer(configuration).run()
        } catch {
            print("replication fuzz failed: \(error)")
            await pair.stop()
            throw ExitCode.failure
        }
        let after = members.map { ProcessMemory.residentKilobytes(pid: $0.process.pid) }
        print(report.summary)
        var crashes = 0
        for (index, member) in members.enumerated() {
            print("  \(member.name) RSS: \(before[index].map { "\($0) kB" } ?? "?") before, \(after[index].map { "\($0) kB" } ?? "?") after")
            if !member.process.isRunning {
                crashes += 1
                print("broker \(member.name) died; stderr:\n" + ReplicatedBrokerPair.crashReport(member.process.standardErrorText))
            }
        }
        print("  crashes: \(crashes)")
        let roles = report.leaderAfter[leader.name] == true && report.leaderAfter[follower.name] == false
        await pair.stop()
        guard crashes == 0, report.faults.isEmpty, report.answeringAfter.values.allSatisfy({ $0 }), roles else {
            throw ExitCode.failure
        }
    }
}
