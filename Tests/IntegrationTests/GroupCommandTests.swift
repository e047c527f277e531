import Foundation
import SluiceTesting
import SluiceWire
import Testing

@Suite("sluice group")
struct GroupCommandTests {
    @Test("create, list, show and redrive against a real broker, as tables and JSON, with exit codes")
    func endToEnd() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("orders", type: "normal")
            let admin = broker.adminURL

            let created = try await TopicCommandTests.sluice(
                ["group", "create", "billing", "--max-attempts", "3", "--retry-delays", "1s,30s", "--consume-from", "earliest"],
                admin: admin)
            #expect(created.status == 0, "stderr: \(created.stderr)")
            #expect(created.stdout.contains("created group billing"), "stdout: \(created.stdout)")
            #expect(created.stdout.contains("MAX-ATTEMPTS") && created.stdout.contains("CONSUME-FROM"))
            #expect(created.stdout.contains("earliest"), "stdout: \(created.stdout)")

            let updated = try await TopicCommandTests.sluice(["group", "create", "billing", "--fifo", "--json"], admin: admin)
            #expect(updated.status == 0, "stderr: \(updated.stderr)")
            #expect(updated.json?["fifo"] as? Bool == true)
            #expect(updated.json?["retryDelaysMs"] as? [Int] == [1000, 30_000])
            #expect(updated.json?["consumeFrom"] as? String == "earliest", "an update without --consume-from keeps it")

            // A consumer reads one message: the group shows it in flight.
            try await GRPCProducer.with(broker) { producer in
                _ = try await producer.send(topic: "orders", type: .normal, messageId: "G-1", body: "x")
                #expect(try await producer.receive(group: "billing", topic: "orders").count == 1)
            }
            let shown = try await TopicCommandTests.sluice(["group", "show", "billing"], admin: admin)
            #expect(shown.status == 0, "stderr: \(shown.stderr)")
            #expect(shown.stdout.contains("IN-FLIGHT") && shown.stdout.contains("orders"), "stdout: \(shown.stdout)")
            let json = try await TopicCommandTests.sluice(["group", "show", "billing", "--json"], admin: admin)
            #expect(json.json?["inFlight"] as? Int == 1)
            #expect((json.json?["queues"] as? [[String: Any]])?.count == 8)

            // The operator replays the topic for the group: audited, with each queue's move printed.
            let reset = try await TopicCommandTests.sluice(
                ["group", "reset-offset", "billing", "--topic", "orders", "--earliest", "--reason", "replay", "--actor", "ops"],
                admin: admin)
            #expect(reset.status == 0, "stderr: \(reset.stderr)")
            #expect(reset.stdout.contains("FROM") && reset.stdout.contains("reset group billing in topic orders to earliest"),
                    "stdout: \(reset.stdout)")
            let badTime = try await TopicCommandTests.sluice(
                ["group", "reset-offset", "billing", "--topic", "orders", "--to-time", "noon"], admin: admin)
            #expect(badTime.status == 1 && badTime.stderr.contains("RFC 3339"), "stderr: \(badTime.stderr)")
            let noTarget = try await TopicCommandTests.sluice(["group", "reset-offset", "billing", "--topic", "orders"], admin: admin)
            #expect(noTarget.status != 0 && noTarget.stderr.contains("exactly one of"), "stderr: \(noTarget.stderr)")

            let listed = try await TopicCommandTests.sluice(["group", "list", "--json"], admin: admin)
            #expect((listed.json?["groups"] as? [[String: Any]])?.map { $0["name"] as? String } == ["billing"])

            let redriven = try await TopicCommandTests.sluice(["group", "redrive", "billing", "--actor", "ops"], admin: admin)
            #expect(redriven.status == 0, "stderr: \(redriven.stderr)")
            #expect(redriven.stdout.contains("re-drove 0 dead letters of group billing"), "stdout: \(redriven.stdout)")

            let missing = try await TopicCommandTests.sluice(["group", "show", "nobody"], admin: admin)
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("GROUP_NOT_FOUND") || missing.stderr.contains("does not exist"), "\(missing.stderr)")
            let badName = try await TopicCommandTests.sluice(["group", "create", "%bad"], admin: admin)
            #expect(badName.status == 1, "stdout: \(badName.stdout) stderr: \(badName.stderr)")
        }
    }
}
