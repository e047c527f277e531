import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

/// `kill -9` of a real child producing and consuming at full speed, many rounds on one data
/// folder. After each crash the group is drained (with a clock far ahead, so every invisible
/// message is due): no message the child saw acknowledged comes back (neither in the drain nor to
/// a later child); every message the child saw stored comes back unless it saw it acknowledged or
/// was acknowledging it when killed (that ack may or may not have committed); nothing is delivered
/// twice in one drain.
@Suite("consumer groups survive kill -9 of a child under load")
struct ConsumptionCrashTests {
    static var rounds: Int { Int(ProcessInfo.processInfo.environment["SLUICE_CONSUME_CRASH_ROUNDS"] ?? "") ?? 20 }

    @Test("acknowledged messages stay acknowledged and unacknowledged ones come back after every crash")
    func killNineRounds() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("consumption crash test seed \(seed), \(Self.rounds) rounds")
        var random = SplitMix64(seed: seed)
        let child = try BuildProducts.executable("sluice-bench")
        try await withTemporaryDirectory(prefix: "sluice-consume-crash") { directory in
            var acked: Set<String> = []
            var sent: Set<String> = []
            var deliveries = 0
            for round in 0..<Self.rounds {
                let process = ChildProcess(
                    executable: child, arguments: ["consume-crash-child", "--data-dir", directory, "--run", "\(round)"])
                try process.start()
                let ready = await process.waitForOutput(timeout: .seconds(30)) { $0.contains("READY") }
                #expect(ready, "child never became ready: \(process.standardErrorText)")
                let target = Int(random.next() % 1500) + 50
                let deadline = ContinuousClock.now + .seconds(5)
                while process.outputLineCount < target && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try await Task.sleep(for: .milliseconds(Int(random.next() % 15)))
                await process.killHard()
                var roundAcked: Set<String> = []
                var acking: Set<String> = []
                var received: Set<String> = []
                for line in process.outputLines {
                    let fields = line.split(separator: " ").map(String.init)
                    switch fields.first {
                    case "SENT": sent.insert(fields[1])
                    case "ACK": roundAcked.insert(fields[1])
                    case "ACKING": acking.insert(fields[1])
                    case "RECV":
                        deliveries += 1
                        received.insert(fields[1])
                    case "ERR": Issue.record("round \(round): \(line)")
                    default: break
                    }
                }
                #expect(received.isDisjoint(with: acked), "round \(round): a message acknowledged earlier was delivered again")
                acked.formUnion(roundAcked)
                let uncertain = acking.subtracting(roundAcked)
                acked.formUnion(
                    try await drain(directory: directory, acked: acked, uncertain: uncertain, sent: sent, round: round))
                // Whether or not their ack committed, they are finished now (acked or drained).
                acked.formUnion(uncertain)
            }
            print("consumption crash test: \(sent.count) sent, \(acked.count) acknowledged, \(deliveries) deliveries verified")
        }
    }

    /// Reopens the stack with a clock a day ahead, receives everything the group still holds,
    /// checks it against the ledger and acknowledges it (so the next round starts clean).
    private func drain(directory: String, acked: Set<String>, uncertain: Set<String>, sent: Set<String>, round: Int)
        async throws -> Set<String>
    {
        let ahead = WallClock.nowMs() + 86_400_000
        let stack = try await ConsumptionStack.open(directory, nowMs: { ahead })
        let topic = try #require(try await stack.topics.topic(named: "work"))
        let group = try await stack.engine.groupForConsumer("workers")
        var drained: [String] = []
        while true {
            let batch = try await stack.engine.receive(
                group: group, topic: topic, batch: 256, invisibleMs: 600_000, filter: .all, clientId: "verify", firstQueue: 0)
            if batch.isEmpty { break }
            for delivery in batch {
                drained.append(delivery.record.messageId)
                try await stack.engine.ack(
                    group: "workers", topic: "work",
                    receiptHandle: stack.engine.encode(delivery.handle, group: "workers", topic: "work"))
            }
        }
        let drainedSet = Set(drained)
        #expect(drained.count == drainedSet.count, "round \(round): a message was delivered twice in one drain")
        let resurrected = drainedSet.intersection(acked)
        #expect(resurrected.isEmpty, "round \(round): acknowledged messages came back: \(resurrected.prefix(5))")
        let lost = sent.subtracting(acked).subtracting(uncertain).subtracting(drainedSet)
        #expect(lost.isEmpty, "round \(round): stored, unacknowledged messages never came back: \(lost.prefix(5))")
        let backlog = try #require(await stack.engine.backlog(group: "workers"))
        #expect(backlog.waiting == 0 && backlog.inFlight == 0 && backlog.retrying == 0)
        await stack.close()
        return drainedSet
    }
}
