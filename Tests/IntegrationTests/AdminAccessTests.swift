import Foundation
import SluiceTesting
import Testing

/// The admin token against a real broker: refusing to start open on a non-loopback address,
/// 401 without the token, the CLI's --token and SLUICE_ADMIN_TOKEN, audited deletes.
@Suite("admin access control against a real broker")
struct AdminAccessIntegrationTests {
    static let token = "integration-token-0123456789abcdef"

    static func sluice(_ arguments: [String], admin: String, environment: [String: String] = [:]) async throws
        -> TopicCommandTests.CLIRun
    {
        let cli = ChildProcess(
            executable: try BuildProducts.executable("sluice"), arguments: arguments + ["--admin", admin],
            environment: environment)
        try cli.start()
        let status = await cli.waitForExit(timeout: .seconds(20))
        return TopicCommandTests.CLIRun(status: status, stdout: cli.outputLines.joined(separator: "\n"), stderr: cli.standardErrorText)
    }

    @Test("an admin address other than loopback without a token: refused before anything listens")
    func refusesOpenNonLoopback() async throws {
        try await withTemporaryDirectory { directory in
            let broker = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: ["--data-dir", directory + "/data", "--admin-host", "0.0.0.0", "--admin-port", "0"],
                environment: ["SLUICE_ADMIN_TOKEN": ""])
            try broker.start()
            #expect(await broker.waitForExit(timeout: RunningBroker.exitTimeout) == 64)
            #expect(broker.standardErrorText.contains("SLUICE_ADMIN_TOKEN"), "\(broker.standardErrorText)")
            #expect(broker.outputLines.allSatisfy { !$0.contains("listening") })
            #expect(!FileManager.default.fileExists(atPath: directory + "/data"))
        }
    }

    @Test("with a token: probes open, everything else 401 without it; the CLI authenticates with --token or the variable")
    func tokenRequired() async throws {
        try await withBroker(extraArguments: ["--admin-token", Self.token]) { broker in
            _ = try #require(await broker.waitUntilReady())
            let admin = broker.adminURL
            #expect(try await HTTPProbe.get("\(admin)/healthz").status == 200)
            let refused = try await HTTPProbe.get("\(admin)/v1/topics")
            #expect(refused.status == 401)
            #expect((refused.json?["error"] as? [String: Any])?["code"] as? String == "UNAUTHORIZED")
            #expect(try await HTTPProbe.get("\(admin)/metrics").status == 401)
            let bearer = ["Authorization": "Bearer \(Self.token)"]
            #expect(try await LoopbackHTTP.get("\(admin)/v1/topics", headers: bearer).status == 200)
            #expect(try await LoopbackHTTP.get("\(admin)/metrics", headers: bearer).status == 200)

            let anonymous = try await Self.sluice(["topic", "list"], admin: admin, environment: ["SLUICE_ADMIN_TOKEN": ""])
            #expect(anonymous.status == 1)
            #expect(anonymous.stderr.contains("UNAUTHORIZED"), "\(anonymous.stderr)")
            let wrong = try await Self.sluice(
                ["topic", "list", "--token", "not-the-token-at-all"], admin: admin, environment: ["SLUICE_ADMIN_TOKEN": ""])
            #expect(wrong.status == 1)

            let created = try await Self.sluice(
                ["topic", "create", "orders", "--type", "normal", "--token", Self.token], admin: admin)
            #expect(created.status == 0, "stderr: \(created.stderr)")
            let listed = try await Self.sluice(["topic", "list"], admin: admin, environment: ["SLUICE_ADMIN_TOKEN": Self.token])
            #expect(listed.status == 0, "stderr: \(listed.stderr)")
            #expect(listed.stdout.contains("orders"))

            let deleted = try await Self.sluice(
                ["topic", "delete", "orders", "--actor", "erin"], admin: admin, environment: ["SLUICE_ADMIN_TOKEN": Self.token])
            #expect(deleted.status == 0, "stderr: \(deleted.stderr)")
            let audit = try await LoopbackHTTP.get("\(admin)/v1/audit", headers: bearer)
            let entry = (audit.json?["audit"] as? [[String: Any]])?.first
            #expect(entry?["actor"] as? String == "erin", "\(audit.text)")
            #expect(entry?["action"] as? String == "topic.delete")
        }
    }

    @Test("a delete without X-Sluice-Actor is refused and the topic stays")
    func deleteNeedsActor() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("keep", type: "normal")
            let reply = try await LoopbackHTTP.send("DELETE", "\(broker.adminURL)/v1/topics/keep")
            #expect(reply.status == 400)
            #expect((reply.json?["error"] as? [String: Any])?["code"] as? String == "ACTOR_REQUIRED")
            #expect(try await HTTPProbe.get("\(broker.adminURL)/v1/topics/keep").status == 200)
        }
    }
}
