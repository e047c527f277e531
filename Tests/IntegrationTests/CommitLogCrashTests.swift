import Foundation
import Logging
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

/// `kill -9` of a real child process appending at full speed, at random moments, many rounds on
/// one data folder: every append the child reported as acknowledged (sync flush) must be there
/// byte for byte after recovery, and every index entry must agree with the log.
@Suite("commit log survives kill -9 of a child appending at full speed")
struct CommitLogCrashTests {
    struct Acknowledged: Hashable {
        var messageId: String
        var queueId: UInt32
        var physicalOffset: UInt64
        var queueOffset: UInt64
        /// Filled in the first time the record is verified byte for byte against its derivation.
        var bodyHash: Int?
    }

    static var rounds: Int { Int(ProcessInfo.processInfo.environment["SLUICE_CRASH_ROUNDS"] ?? "") ?? 20 }

    @Test("acknowledged appends survive; nothing torn is visible; indexes agree with the log")
    func killNineRounds() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("crash test seed \(seed) (set SLUICE_CRASH_SEED to replay), \(Self.rounds) rounds")
        var random = SplitMix64(seed: seed)
        let child = try BuildProducts.executable("sluice-bench")
        try await withTemporaryDirectory(prefix: "sluice-crash") { directory in
            var ledger: [Acknowledged] = []
            for round in 0..<Self.rounds {
                let process = ChildProcess(
                    executable: child,
                    arguments: ["crash-child", "--data-dir", directory, "--run", "\(round)", "--segment-size", "\(64 * 1024)"])
                try process.start()
                let ready = await process.waitForOutput(timeout: .seconds(30)) { $0.contains { $0.hasPrefix("READY") } }
                #expect(ready, "child never became ready: \(process.standardErrorText)")
                let target = Int(random.next() % 1500) + 20
                let deadline = ContinuousClock.now + .seconds(5)
                while process.outputLineCount < target && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try await Task.sleep(for: .milliseconds(Int(random.next() % 20)))
                await process.killHard()
                let lines = process.outputLines
                #expect(!lines.contains { $0.hasPrefix("ERR") }, "child reported errors: \(lines.filter { $0.hasPrefix("ERR") }.prefix(3))")
                let acknowledged = lines.compactMap(Self.parse)
                #expect(!acknowledged.isEmpty, "round \(round) acknowledged nothing")
                ledger += acknowledged
                try await verify(directory: directory, ledger: &ledger, round: round)
            }
            print("crash test: \(ledger.count) acknowledged appends verified over \(Self.rounds) rounds")
        }
    }

    static func parse(_ line: String) -> Acknowledged? {
        let fields = line.split(separator: " ")
        guard fields.count == 6, fields[0] == "ACK", let queueId = UInt32(fields[2]), let physical = UInt64(fields[3]),
            let queueOffset = UInt64(fields[4])
        else { return nil }
        return Acknowledged(
            messageId: String(fields[1]), queueId: queueId, physicalOffset: physical, queueOffset: queueOffset, bodyHash: nil)
    }

    private func verify(directory: String, ledger: inout [Acknowledged], round: Int) async throws {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = 64 * 1024
        configuration.queueIndexEntriesPerFile = 1024
        configuration.keyIndexEntriesPerFile = 4096
        var logger = Logger(label: "crash-verify")
        logger.logLevel = .critical
        let log = try await CommitLog.open(configuration, logger: logger)
        #expect(log.recoveryReport.damaged.isEmpty, "round \(round): \(log.recoveryReport.damaged)")
        for position in ledger.indices {
            let entry = ledger[position]
            let record = try log.read(at: entry.physicalOffset)
            #expect(record.messageId == entry.messageId)
            #expect(record.queueId == entry.queueId && record.queueOffset == entry.queueOffset)
            if let bodyHash = entry.bodyHash {
                #expect(record.body.hashValue == bodyHash, "round \(round): body of \(entry.messageId) changed")
            } else {
                let expected = try #require(Self.expectedRecord(entry.messageId))
                #expect(record.body == expected.message.body, "round \(round): body of \(entry.messageId) differs")
                #expect(record.message.keys == expected.message.keys)
                ledger[position].bodyHash = expected.message.body.hashValue
            }
            let indexed = log.queueEntries(QueueID(topic: "crash", queueId: entry.queueId), from: entry.queueOffset, maxCount: 1)
            #expect(indexed.first?.physicalOffset == entry.physicalOffset, "round \(round): index of \(entry.messageId) is wrong")
        }
        // Every index entry resolves to a whole, matching record: nothing torn is visible.
        var indexed = 0
        for queueId in 0..<4 {
            let queue = QueueID(topic: "crash", queueId: UInt32(queueId))
            let bounds = log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: 512)
                for entry in entries { _ = try log.read(entry, of: queue) }
                indexed += entries.count
                offset += UInt64(entries.count)
            }
        }
        #expect(indexed >= Set(ledger.map(\.messageId)).count)
        await log.close()
    }

    /// Re-derives what the child appended for a message id `R<run>W<writer>S<sequence>`.
    static func expectedRecord(_ messageId: String) -> CrashRecord? {
        let parts = messageId.dropFirst().split(whereSeparator: { $0 == "W" || $0 == "S" })
        guard parts.count == 3, let run = Int(parts[0]), let writer = Int(parts[1]), let sequence = Int(parts[2]) else {
            return nil
        }
        return CrashRecord(run: run, writer: writer, sequence: sequence, queues: 4)
    }
}
