import Foundation
import SluiceTesting
import Testing

/// `--admin` (and the other options every subcommand takes) before or after the subcommand, or
/// from SLUICE_ADMIN, as interface.md promises.
@Suite("sluice global options before or after the subcommand")
struct GlobalOptionPlacementTests {
    static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> (Int32, String, String) {
        let cli = ChildProcess(executable: try BuildProducts.executable("sluice"), arguments: arguments, environment: environment)
        try cli.start()
        let status = await cli.waitForExit(timeout: .seconds(20))
        return (status, cli.outputLines.joined(separator: "\n"), cli.standardErrorText)
    }

    @Test("--admin and --json before the subcommand, after it, and SLUICE_ADMIN all reach the same broker")
    func placements() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("placed", type: "normal")
            let before = try await Self.run(["--admin", broker.adminURL, "--json", "topic", "list"])
            #expect(before.0 == 0, "stderr: \(before.2)")
            #expect(before.1.contains("\"placed\""), "stdout: \(before.1)")
            let equals = try await Self.run(["--admin=\(broker.adminURL)", "topic", "list"])
            #expect(equals.0 == 0, "stderr: \(equals.2)")
            #expect(equals.1.contains("placed"), "stdout: \(equals.1)")
            let after = try await Self.run(["topic", "list", "--admin", broker.adminURL])
            #expect(after.0 == 0, "stderr: \(after.2)")
            #expect(after.1.contains("placed"), "stdout: \(after.1)")
            let fromEnvironment = try await Self.run(["topic", "list"], environment: ["SLUICE_ADMIN": broker.adminURL])
            #expect(fromEnvironment.0 == 0, "stderr: \(fromEnvironment.2)")
            #expect(fromEnvironment.1.contains("placed"), "stdout: \(fromEnvironment.1)")
            // An unknown option before the subcommand is still explained, not swallowed.
            let unknown = try await Self.run(["--nonsense", "topic", "list", "--admin", broker.adminURL])
            #expect(unknown.0 != 0)
            #expect(unknown.2.contains("--nonsense"), "stderr: \(unknown.2)")
        }
    }
}
