import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

/// `kill -9` of a real child running mixed half / commit / rollback load at random moments, many
/// rounds on one data folder, checking after each restart, against the ledger of what the child
/// acknowledged: a half message is never lost; an acknowledged commit is in its target queue
/// exactly once (never zero, never twice); an acknowledged rollback never appears; a final state
/// never flips; no copy exists for a transaction that is not committed.
@Suite("transactions survive kill -9 of a child under mixed load")
struct TransactionCrashTests {
    static var rounds: Int { Int(ProcessInfo.processInfo.environment["SLUICE_TXN_CRASH_ROUNDS"] ?? "") ?? 20 }

    struct Ledger {
        var halves: [String: String] = [:]  // transaction id -> message id
        var committed: Set<String> = []
        var rolledBack: Set<String> = []
    }

    @Test("acknowledged halves, commits and rollbacks hold after every crash; commits land exactly once")
    func killNineRounds() async throws {
        try await runRounds(Self.rounds, powerLoss: false)
    }

    /// A power loss keeps only synced bytes: the log (sync flush) has every acknowledged event,
    /// while `transactions.sqlite` (WAL, synchronous=NORMAL) may lose its newest commits, the
    /// applied-event watermark included. The replay from the older watermark must restore them.
    @Test("a power loss (only synced bytes survive) keeps every acknowledged half, commit and rollback")
    func powerLossRounds() async throws {
        try await runRounds(max(4, Self.rounds / 3), powerLoss: true)
    }

    private func runRounds(_ rounds: Int, powerLoss: Bool) async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("transaction \(powerLoss ? "power-loss" : "crash") test seed \(seed), \(rounds) rounds")
        var random = SplitMix64(seed: seed)
        let child = try BuildProducts.executable("sluice-bench")
        try await withTemporaryDirectory(prefix: "sluice-txn-crash") { directory in
            var ledger = Ledger()
            var decisions: [String] = []
            let shadow = directory + "-shadow"
            defer { try? FileManager.default.removeItem(atPath: shadow) }
            for round in 0..<rounds {
                let resolveFile = directory + "-resolve-\(round).txt"
                // Not atomically: swift-corelibs-foundation leaves an empty /tmp/TemporaryDirectory.* behind for
                // every atomic write. The child reads the file only after this returns.
                try decisions.joined(separator: "\n").write(toFile: resolveFile, atomically: false, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: resolveFile) }
                let process = ChildProcess(
                    executable: child,
                    arguments: ["txn-crash-child", "--data-dir", directory, "--run", "\(round)", "--resolve-file", resolveFile],
                    environment: powerLoss ? try PowerLossImage.environment(root: directory, shadow: shadow) : nil)
                try process.start()
                let ready = await process.waitForOutput(timeout: .seconds(30)) { $0.contains("READY") }
                #expect(ready, "child never became ready: \(process.standardErrorText)")
                let target = Int(random.next() % 1200) + 30
                let deadline = ContinuousClock.now + .seconds(5)
                while process.outputLineCount < target && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try await Task.sleep(for: .milliseconds(Int(random.next() % 15)))
                await process.killHard()
                if powerLoss {
                    let restored = try PowerLossImage.restore(shadow: shadow, into: directory)
                    print("power loss round \(round): \(restored.synced) files as synced, \(restored.zeroed) listed but never synced")
                }
                let lines = process.outputLines
                let errors = lines.filter { $0.hasPrefix("ERR") || $0.hasPrefix("CONFLICT") }
                #expect(errors.isEmpty, "round \(round): \(errors.prefix(3))")
                for line in lines {
                    let fields = line.split(separator: " ").map(String.init)
                    guard fields.count == 3 else { continue }
                    switch fields[0] {
                    case "HALF": ledger.halves[fields[1]] = fields[2]
                    case "COMMIT": ledger.committed.insert(fields[1])
                    case "ROLLBACK": ledger.rolledBack.insert(fields[1])
                    default: break
                    }
                }
                #expect(ledger.committed.isDisjoint(with: ledger.rolledBack), "a transaction was both committed and rolled back")
                let pending = try await verify(directory: directory, ledger: ledger, round: round)
                // Next round: resolve some still-pending ones, and repeat some final decisions
                // (idempotent: they must print their resolution again, and append nothing).
                decisions = pending.shuffled(using: &random).prefix(40).map { "\($0) \(ledger.halves[$0]!) \(random.next() % 2 == 0 ? "commit" : "rollback")" }
                decisions += ledger.committed.shuffled(using: &random).prefix(5).map { "\($0) \(ledger.halves[$0] ?? "?") commit" }
                decisions += ledger.rolledBack.shuffled(using: &random).prefix(5).map { "\($0) \(ledger.halves[$0] ?? "?") rollback" }
            }
            print("transaction crash test: \(ledger.halves.count) halves, \(ledger.committed.count) commits, \(ledger.rolledBack.count) rollbacks verified")
        }
    }

    /// Restarts the stack in this process and checks every invariant; returns pending transactions.
    private func verify(directory: String, ledger: Ledger, round: Int) async throws -> [String] {
        let stack = try await TransactionStack.open(directory)
        var copies: [String: Int] = [:]  // message id -> visible copies
        for queueId in 0..<4 {
            let queue = QueueID(topic: "payments", queueId: UInt32(queueId))
            let bounds = stack.log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = stack.log.queueEntries(queue, from: offset, maxCount: 1024)
                for entry in entries { copies[try stack.log.read(entry, of: queue).messageId, default: 0] += 1 }
                offset += UInt64(entries.count)
            }
        }
        #expect(copies.values.allSatisfy { $0 == 1 }, "round \(round): duplicate committed copies \(copies.filter { $0.value > 1 }.prefix(3))")
        var pending: [String] = []
        var messageToState: [String: TransactionState] = [:]
        for (transactionId, messageId) in ledger.halves {
            guard let record = try await stack.store.transaction(id: transactionId) else {
                Issue.record("round \(round): acknowledged half \(transactionId) (\(messageId)) is lost")
                continue
            }
            messageToState[messageId] = record.state
            if ledger.committed.contains(transactionId) {
                #expect(record.state == .committed, "round \(round): acknowledged commit \(transactionId) is \(record.state)")
                #expect(copies[messageId] == 1, "round \(round): acknowledged commit \(messageId) has \(copies[messageId] ?? 0) copies")
            } else if ledger.rolledBack.contains(transactionId) {
                #expect(record.state == .rolledBack, "round \(round): acknowledged rollback \(transactionId) is \(record.state)")
                #expect(copies[messageId] == nil, "round \(round): rolled-back \(messageId) is visible")
            } else if record.state == .prepared {
                pending.append(transactionId)
            }
        }
        // Every visible copy belongs to a committed transaction (none from a rollback or a
        // transaction the table thinks pending).
        for (messageId, _) in copies {
            if let state = messageToState[messageId] {
                #expect(state == .committed, "round \(round): \(messageId) is visible but its transaction is \(state)")
            }
        }
        await stack.coordinator.maintain()
        try await stack.store.close()
        await stack.log.close()
        return pending
    }
}
