import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `sluice bench ...`: the load generator of the benchmarks. It runs `sluice-bench` (built with
/// the same `swift build`, so it sits beside this executable) with the arguments given, in place
/// of this process: its output, exit status and signals are the benchmark's own.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the benchmarks' load generator (sluice-bench): storage, txn, consume, grpc.",
        discussion: """
            Everything after `bench` is passed to sluice-bench, e.g. `sluice bench grpc --concurrency 16` or \
            `sluice bench consume --backlog 1000000`; `sluice bench --help` lists its benchmarks. The \
            benchmarks start their own broker or store in --dir (default ./bench-data) and remove it \
            afterwards. Results and how to read them: docs/benchmarks.md.
            """)

    @Argument(parsing: .captureForPassthrough, help: "Arguments for sluice-bench.")
    var arguments: [String] = []

    func run() throws {
        let executable = Self.benchExecutable()
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw CLIError(.failed, "cannot find sluice-bench at \(executable); build it with `swift build -c release --product sluice-bench`").exit()
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        execv(executable, argv)
        throw CLIError(.failed, "cannot run \(executable): \(String(cString: strerror(errno)))").exit()
    }

    /// `sluice-bench` beside this executable (found through /proc/self/exe, so also when `sluice`
    /// was run through PATH).
    static func benchExecutable() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("sluice-bench").path
    }
}
