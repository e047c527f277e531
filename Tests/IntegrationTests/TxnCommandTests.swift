import Foundation
import SluiceTesting
import Testing

/// `sluice txn` against a real broker. A pending transaction needs a RocketMQ producer, which
/// Swift tests do not have: the Python interop test `test_txn_cli.py` covers list, show and
/// resolve of a real half message; here the empty broker, errors and help.
@Suite("sluice txn")
struct TxnCommandTests {
    static func sluice(_ arguments: [String], admin: String) async throws -> TopicCommandTests.CLIRun {
        try await TopicCommandTests.sluice(arguments, admin: admin)
    }

    @Test("list on an empty broker says no transactions match, as a table and as JSON")
    func emptyList() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())

            let table = try await Self.sluice(["txn", "list"], admin: broker.adminURL)
            #expect(table.status == 0, "stderr: \(table.stderr)")
            #expect(table.stdout == "no transactions match", "stdout: \(table.stdout)")

            let stuck = try await Self.sluice(
                ["txn", "list", "--state", "prepared", "--older-than", "5m", "--all"], admin: broker.adminURL)
            #expect(stuck.status == 0, "stderr: \(stuck.stderr)")
            #expect(stuck.stdout == "no transactions match (state prepared, older than 5m)", "stdout: \(stuck.stdout)")

            let json = try await Self.sluice(["txn", "list", "--json", "--topic", "a b&c"], admin: broker.adminURL)
            #expect(json.status == 0, "stderr: \(json.stderr)")
            #expect((json.json?["transactions"] as? [Any])?.isEmpty == true, "stdout: \(json.stdout)")
            #expect(json.json?["nextCursor"] is NSNull, "stdout: \(json.stdout)")
        }
    }

    @Test("show and resolve of an unknown id, bad flags and a bad duration exit non-zero with a clear message")
    func failures() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())

            let resolve = try await Self.sluice(
                ["txn", "resolve", "no-such-txn", "--commit", "--reason", "test"], admin: broker.adminURL)
            #expect(resolve.status == 1)
            #expect(resolve.stderr.contains("no transaction with id no-such-txn"), "stderr: \(resolve.stderr)")
            #expect(resolve.stderr.contains("TRANSACTION_NOT_FOUND"), "stderr: \(resolve.stderr)")

            let resolveJSON = try await Self.sluice(
                ["txn", "resolve", "no-such-txn", "--rollback", "--reason", "test", "--json"], admin: broker.adminURL)
            #expect(resolveJSON.status == 1)
            #expect((resolveJSON.json?["error"] as? [String: Any])?["code"] as? String == "TRANSACTION_NOT_FOUND")

            let show = try await Self.sluice(["txn", "show", "no-such-txn"], admin: broker.adminURL)
            #expect(show.status == 1)
            #expect(show.stderr.contains("no transaction with id no-such-txn"), "stderr: \(show.stderr)")

            let both = try await Self.sluice(
                ["txn", "resolve", "x", "--commit", "--rollback", "--reason", "r"], admin: broker.adminURL)
            #expect(both.status != 0)
            let neither = try await Self.sluice(["txn", "resolve", "x", "--reason", "r"], admin: broker.adminURL)
            #expect(neither.status != 0)
            #expect(neither.stderr.contains("--commit"), "stderr: \(neither.stderr)")
            let noReason = try await Self.sluice(["txn", "resolve", "x", "--commit"], admin: broker.adminURL)
            #expect(noReason.status != 0)
            #expect(noReason.stderr.contains("--reason"), "stderr: \(noReason.stderr)")
            let blankReason = try await Self.sluice(
                ["txn", "resolve", "x", "--commit", "--reason", " "], admin: broker.adminURL)
            #expect(blankReason.status != 0)
            #expect(blankReason.stderr.contains("--reason"), "stderr: \(blankReason.stderr)")

            let badDuration = try await Self.sluice(["txn", "list", "--older-than", "5"], admin: broker.adminURL)
            #expect(badDuration.status != 0)
            #expect(badDuration.stderr.contains("--older-than"), "stderr: \(badDuration.stderr)")
            let badState = try await Self.sluice(["txn", "list", "--state", "stuck"], admin: broker.adminURL)
            #expect(badState.status != 0)

            let closedPort = try FreePort.next()
            let unreachable = try await Self.sluice(["txn", "list"], admin: "http://127.0.0.1:\(closedPort)")
            #expect(unreachable.status == 2)
        }
    }

    @Test("every txn subcommand and flag has help")
    func help() async throws {
        let expected: [[String]: [String]] = [
            ["txn"]: ["list", "show", "resolve"],
            ["txn", "list"]: ["--state", "--older-than", "--group", "--topic", "--limit", "--all", "--json", "--admin"],
            ["txn", "show"]: ["txn-id", "--json"],
            ["txn", "resolve"]: ["--commit", "--rollback", "--reason", "--actor", "--json"],
        ]
        for (command, flags) in expected {
            let cli = ChildProcess(executable: try BuildProducts.executable("sluice"), arguments: command + ["--help"])
            try cli.start()
            #expect(await cli.waitForExit(timeout: .seconds(20)) == 0)
            let text = cli.outputLines.joined(separator: "\n")
            #expect(text.contains("USAGE"), "\(text)")
            for flag in flags {
                #expect(text.contains(flag), "\(flag) missing from: \(text)")
            }
        }
    }
}
