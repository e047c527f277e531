import Foundation
import SluiceTesting
import Testing

@Suite("sluice topic")
struct TopicCommandTests {
    struct CLIRun {
        var status: Int32
        var stdout: String
        var stderr: String

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        }
    }

    static func sluice(_ arguments: [String], admin: String) async throws -> CLIRun {
        let cli = ChildProcess(
            executable: try BuildProducts.executable("sluice"), arguments: arguments + ["--admin", admin])
        try cli.start()
        let status = await cli.waitForExit(timeout: .seconds(20))
        return CLIRun(status: status, stdout: cli.outputLines.joined(separator: "\n"), stderr: cli.standardErrorText)
    }

    @Test("create, list and delete against a real broker, as tables and as JSON, and topics survive a restart")
    func endToEnd() async throws {
        try await withTemporaryDirectory(prefix: "sluice-topic-test") { directory in
            let dataDirectory = directory + "/data"
            var broker = try await RunningBroker.start(dataDirectory: dataDirectory)
            defer { broker.process.send(SIGKILL) }
            _ = try #require(await broker.waitUntilReady())

            let created = try await Self.sluice(
                ["topic", "create", "orders", "--type", "fifo", "--queues", "4"], admin: broker.adminURL)
            #expect(created.status == 0, "stderr: \(created.stderr)")
            #expect(created.stdout.contains("NAME"), "stdout: \(created.stdout)")
            #expect(created.stdout.contains("orders"), "stdout: \(created.stdout)")
            #expect(created.stdout.contains("created topic orders"), "stdout: \(created.stdout)")

            let again = try await Self.sluice(
                ["topic", "create", "orders", "--type", "fifo", "--queues", "4", "--json"], admin: broker.adminURL)
            #expect(again.status == 0, "stderr: \(again.stderr)")
            #expect(again.json?["name"] as? String == "orders")
            #expect(again.json?["type"] as? String == "fifo")
            #expect(again.json?["queues"] as? Int == 4)

            let plain = try await Self.sluice(
                ["topic", "create", "payments", "--type", "transaction", "--json"], admin: broker.adminURL)
            #expect(plain.status == 0, "stderr: \(plain.stderr)")
            #expect(plain.json?["queues"] as? Int == 8)

            let table = try await Self.sluice(["topic", "list"], admin: broker.adminURL)
            #expect(table.status == 0, "stderr: \(table.stderr)")
            let lines = table.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "stdout: \(table.stdout)")
            #expect(lines.first?.hasPrefix("NAME") == true)
            #expect(lines.dropFirst().first?.hasPrefix("orders") == true)
            #expect(lines.last?.contains("transaction") == true)

            // A clean restart: the topics are read back from transactions.sqlite.
            broker.process.send(SIGTERM)
            #expect(await broker.process.waitForExit(timeout: RunningBroker.exitTimeout) == 0)
            broker = try await RunningBroker.start(dataDirectory: dataDirectory)
            _ = try #require(await broker.waitUntilReady())

            let listed = try await Self.sluice(["topic", "list", "--json"], admin: broker.adminURL)
            #expect(listed.status == 0, "stderr: \(listed.stderr)")
            let topics = try #require(listed.json?["topics"] as? [[String: Any]], "stdout: \(listed.stdout)")
            #expect(topics.map { $0["name"] as? String } == ["orders", "payments"])

            let deleted = try await Self.sluice(["topic", "delete", "orders"], admin: broker.adminURL)
            #expect(deleted.status == 0, "stderr: \(deleted.stderr)")
            #expect(deleted.stdout.contains("deleted topic orders"))
            let deletedJSON = try await Self.sluice(["topic", "delete", "payments", "--json"], admin: broker.adminURL)
            #expect(deletedJSON.status == 0, "stderr: \(deletedJSON.stderr)")
            #expect(deletedJSON.json?["deleted"] as? Bool == true)

            let empty = try await Self.sluice(["topic", "list", "--json"], admin: broker.adminURL)
            #expect((empty.json?["topics"] as? [Any])?.isEmpty == true, "stdout: \(empty.stdout)")
            await broker.process.killHard()
        }
    }

    @Test("a bad type, a conflict, a bad name and a missing topic exit non-zero with a clear message")
    func failures() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())

            let badType = try await Self.sluice(["topic", "create", "t", "--type", "ordered"], admin: broker.adminURL)
            #expect(badType.status != 0)
            #expect(badType.stderr.contains("--type"), "stderr: \(badType.stderr)")
            #expect(badType.stderr.contains("fifo"), "stderr: \(badType.stderr)")

            let first = try await Self.sluice(["topic", "create", "t", "--type", "normal"], admin: broker.adminURL)
            #expect(first.status == 0, "stderr: \(first.stderr)")
            let conflict = try await Self.sluice(["topic", "create", "t", "--type", "fifo"], admin: broker.adminURL)
            #expect(conflict.status == 1)
            #expect(conflict.stderr.contains("already exists with type normal, not fifo"), "stderr: \(conflict.stderr)")
            #expect(conflict.stderr.contains("TOPIC_EXISTS"), "stderr: \(conflict.stderr)")

            let conflictJSON = try await Self.sluice(
                ["topic", "create", "t", "--type", "fifo", "--json"], admin: broker.adminURL)
            #expect(conflictJSON.status == 1)
            #expect((conflictJSON.json?["error"] as? [String: Any])?["code"] as? String == "TOPIC_EXISTS")

            let badName = try await Self.sluice(["topic", "create", "a.b", "--type", "normal"], admin: broker.adminURL)
            #expect(badName.status == 1)
            #expect(badName.stderr.contains("'.' is not allowed"), "stderr: \(badName.stderr)")

            let badQueues = try await Self.sluice(
                ["topic", "create", "q", "--type", "normal", "--queues", "999"], admin: broker.adminURL)
            #expect(badQueues.status == 1)
            #expect(badQueues.stderr.contains("1 to 256 queues; got 999"), "stderr: \(badQueues.stderr)")

            let missing = try await Self.sluice(["topic", "delete", "nope"], admin: broker.adminURL)
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("topic 'nope' does not exist"), "stderr: \(missing.stderr)")

            let closedPort = try FreePort.next()
            let unreachable = try await Self.sluice(["topic", "list"], admin: "http://127.0.0.1:\(closedPort)")
            #expect(unreachable.status == 2)
        }
    }

    @Test("every topic subcommand and flag has help")
    func help() async throws {
        for command in [["topic"], ["topic", "create"], ["topic", "list"], ["topic", "delete"]] {
            let cli = ChildProcess(executable: try BuildProducts.executable("sluice"), arguments: command + ["--help"])
            try cli.start()
            #expect(await cli.waitForExit(timeout: .seconds(20)) == 0)
            let text = cli.outputLines.joined(separator: "\n")
            #expect(text.contains("USAGE"), "\(text)")
            if command.last == "create" {
                for flag in ["--type", "--queues", "--json", "--admin"] {
                    #expect(text.contains(flag), "\(flag) missing from: \(text)")
                }
            }
        }
    }
}
