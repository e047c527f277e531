import SluiceTesting
import Testing

@Suite("sluice bench")
struct BenchCommandTests {
    @Test("runs sluice-bench with the arguments given: a short storage benchmark prints its table")
    func passesThrough() async throws {
        try await withTemporaryDirectory(prefix: "sluice-bench-cli") { directory in
            let cli = ChildProcess(
                executable: try BuildProducts.executable("sluice"),
                arguments: [
                    "bench", "storage", "--dir", directory + "/bench", "--seconds", "0.2", "--concurrency", "1",
                    "--flush", "async", "--segment-mib", "1",
                ])
            try cli.start()
            let status = await cli.waitForExit(timeout: .seconds(60))
            #expect(status == 0, "stderr: \(cli.standardErrorText)")
            let output = cli.outputLines.joined(separator: "\n")
            #expect(output.contains("storage benchmark"), "stdout: \(output)")
            #expect(output.contains("async x1"), "stdout: \(output)")
        }
    }
}
