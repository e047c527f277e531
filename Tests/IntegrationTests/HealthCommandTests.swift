import Foundation
import SluiceTesting
import Testing

@Suite("sluice health")
struct HealthCommandTests {
    static func runHealth(_ arguments: [String]) async throws -> (status: Int32, process: ChildProcess) {
        let cli = ChildProcess(executable: try BuildProducts.executable("sluice"), arguments: ["health"] + arguments)
        try cli.start()
        let status = await cli.waitForExit(timeout: .seconds(20))
        return (status, cli)
    }

    @Test("exits 0 and prints a table against a ready broker")
    func readyBroker() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            let (status, cli) = try await Self.runHealth(["--admin", broker.adminURL])
            #expect(status == 0, "stderr: \(cli.standardErrorText)")
            let output = cli.outputLines.joined(separator: "\n")
            #expect(output.contains("READY"), "stdout: \(output)")
            #expect(output.contains("yes"), "stdout: \(output)")
        }
    }

    @Test("--json prints one JSON object saying ready")
    func readyBrokerJSON() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            let (status, cli) = try await Self.runHealth(["--admin", broker.adminURL, "--json"])
            #expect(status == 0, "stderr: \(cli.standardErrorText)")
            let object = try JSONSerialization.jsonObject(with: Data(cli.outputLines.joined().utf8)) as? [String: Any]
            #expect(object?["ready"] as? Bool == true)
            #expect(object?["live"] as? Bool == true)
        }
    }

    @Test("exits non-zero with a clear message when nothing listens on the admin port")
    func unreachableBroker() async throws {
        let closedPort = try FreePort.next()
        let (status, cli) = try await Self.runHealth(["--admin", "http://127.0.0.1:\(closedPort)", "--timeout", "5"])
        #expect(status == 2)
        #expect(
            cli.standardErrorText.contains("cannot reach the broker's admin API at http://127.0.0.1:\(closedPort)"),
            "stderr: \(cli.standardErrorText)")
    }

    @Test("a malformed --admin URL is a usage error naming the flag")
    func malformedAdminURL() async throws {
        let (status, cli) = try await Self.runHealth(["--admin", "127.0.0.1:8082"])
        #expect(status != 0)
        #expect(cli.standardErrorText.contains("--admin"), "stderr: \(cli.standardErrorText)")
    }
}
