import Foundation
import Logging
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@Suite("commit log: recovery from torn tails, lost indexes and damage")
struct RecoveryTests {
    /// Appends `count` records, closes, and returns their results.
    private func fill(_ directory: String, count: Int, segmentSize: Int = 8192) async throws -> [AppendResult] {
        let log = try await CommitLog.open(testConfiguration(directory, segmentSize: segmentSize), logger: quietLogger)
        var results: [AppendResult] = []
        for index in 0..<count {
            results.append(try await log.append(message("record-\(index)-" + String(repeating: "z", count: index % 300), keys: ["key-\(index)"])))
        }
        await log.close()
        return results
    }

    /// Marks the folder as not cleanly stopped and winds the checkpoint back to `offset`, as a
    /// crash right after the checkpoint at `offset` would leave it.
    private func simulateCrash(_ directory: String, checkpointAt offset: UInt64?) throws {
        try Data("running\n".utf8).write(to: URL(fileURLWithPath: directory + "/abort"))
        if offset == nil { try FileManager.default.removeItem(atPath: directory + "/checkpoint") }
    }

    @Test("a torn last record is cut off; everything before it stays; its queue offset is reused")
    func tornTail() async throws {
        try await withTemporaryDirectory { directory in
            let results = try await fill(directory, count: 40)
            let last = results[results.count - 1]
            let segment = String(format: "%@/commitlog/%020llu", directory, last.physicalOffset / 8192 * 8192)
            // Tear the last record: zero its second half as an interrupted write would leave it.
            let tornAt = Int(last.physicalOffset % 8192) + last.size / 2
            try FileDamage.overwrite(in: segment, at: tornAt, with: Data(count: last.size - last.size / 2))
            try simulateCrash(directory, checkpointAt: nil)

            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let report = log.recoveryReport
            #expect(!report.previousShutdownWasClean)
            #expect(report.truncatedTail?.offset == last.physicalOffset)
            #expect(log.endOffset == last.physicalOffset)
            for result in results.dropLast() { _ = try log.read(at: result.physicalOffset) }
            #expect(throws: StorageError.self) { _ = try log.read(at: last.physicalOffset) }
            let queue = QueueID(topic: "orders", queueId: 0)
            #expect(log.queueBounds(queue).next == UInt64(results.count - 1))
            #expect(log.lookup(key: "key-39").isEmpty)
            let again = try await log.append(message("replacement"))
            #expect(again.queueOffset == last.queueOffset)
            #expect(again.physicalOffset == last.physicalOffset)
            await log.close()
        }
    }

    @Test("without a checkpoint every index is rebuilt from the log and agrees with it")
    func rebuildWithoutCheckpoint() async throws {
        try await withTemporaryDirectory { directory in
            let results = try await fill(directory, count: 120)
            try FileManager.default.removeItem(atPath: directory + "/index")
            try simulateCrash(directory, checkpointAt: nil)
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            #expect(log.recoveryReport.recordsVerified == 120)
            let queue = QueueID(topic: "orders", queueId: 0)
            let entries = log.queueEntries(queue, from: 0, maxCount: 1000)
            #expect(entries.map(\.physicalOffset) == results.map(\.physicalOffset))
            for entry in entries { _ = try log.read(entry, of: queue) }
            #expect(log.lookup(key: "key-77").map(\.physicalOffset) == [results[77].physicalOffset])
            await log.close()
        }
    }

    @Test("index entries past the checkpoint are rebuilt: stale ones do not survive")
    func rebuildPastCheckpoint() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            for index in 0..<30 { _ = try await log.append(message("a\(index)", keys: ["a\(index)"])) }
            try await log.checkpoint()
            let checkpointBytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/checkpoint"))
            for index in 0..<30 { _ = try await log.append(message("b\(index)", keys: ["b\(index)"])) }
            await log.close()
            // Crash with the older checkpoint on disk: recovery must re-verify the last 30 records.
            try checkpointBytes.write(to: URL(fileURLWithPath: directory + "/checkpoint"))
            try simulateCrash(directory, checkpointAt: 0)
            configuration.checkpointInterval = .seconds(3600)
            let reopened = try await CommitLog.open(configuration, logger: quietLogger)
            #expect(reopened.recoveryReport.recordsVerified == 30)
            let queue = QueueID(topic: "orders", queueId: 0)
            let entries = reopened.queueEntries(queue, from: 0, maxCount: 100)
            #expect(entries.count == 60)
            for entry in entries { _ = try reopened.read(entry, of: queue) }
            #expect(reopened.lookup(key: "b29").count == 1)
            #expect(reopened.lookup(key: "a0").count == 1)
            await reopened.close()
        }
    }

    @Test("flipped bytes in a sealed segment: the broker opens, names the range, never serves the record")
    func bitRotInSealedSegment() async throws {
        try await withTemporaryDirectory { directory in
            let results = try await fill(directory, count: 100)
            let firstSegment = results.filter { $0.physicalOffset < 8192 }
            let victim = firstSegment[firstSegment.count / 2]
            let segmentPath = String(format: "%@/commitlog/%020llu", directory, UInt64(0))
            try FileDamage.flipBytes(in: segmentPath, at: Int(victim.physicalOffset) + 70, count: 4)

            let capture = CapturingLogHandler()
            let logger = Logger(label: "test") { _ in capture }
            let log = try await CommitLog.open(testConfiguration(directory), logger: logger)
            await log.waitForScrub()
            let damaged = log.damagedRanges
            #expect(damaged.count == 1)
            #expect(damaged.first?.startOffset == victim.physicalOffset)
            #expect(damaged.first?.endOffset == victim.physicalOffset + UInt64(victim.size))
            #expect(capture.lines.contains { $0.contains("damaged log range") && $0.contains("\(victim.physicalOffset)") })
            do throws(StorageError) {
                _ = try log.read(at: victim.physicalOffset)
                Issue.record("a damaged record was served")
            } catch {
                #expect(error.code == .corruptRecord)
                #expect(error.message.contains("[\(victim.physicalOffset), \(victim.physicalOffset + UInt64(victim.size)))"))
            }
            // Every other record, before and after the damage, is still served.
            for result in results where result != victim { _ = try log.read(at: result.physicalOffset) }
            _ = try await log.append(message("still writable"))
            await log.close()
        }
    }

    @Test("a zeroed hole inside a sealed segment is reported as damage, not taken for its end")
    func zeroedHoleInSealedSegment() async throws {
        try await withTemporaryDirectory { directory in
            let results = try await fill(directory, count: 100)
            let victim = results[3]
            try FileDamage.overwrite(
                in: String(format: "%@/commitlog/%020llu", directory, UInt64(0)), at: Int(victim.physicalOffset),
                with: Data(count: victim.size))
            try simulateCrash(directory, checkpointAt: nil)
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            #expect(log.recoveryReport.damaged.map(\.startOffset) == [victim.physicalOffset])
            for result in results where result != victim { _ = try log.read(at: result.physicalOffset) }
            #expect(log.queueEntries(QueueID(topic: "orders", queueId: 0), from: 3, maxCount: 1).first?.isLost == true)
            await log.close()
        }
    }

    @Test("damage in a sealed segment found during recovery is skipped, later segments kept")
    func damageBehindTheTailDuringRecovery() async throws {
        try await withTemporaryDirectory { directory in
            let results = try await fill(directory, count: 100)
            let victim = results[10]
            try FileDamage.flipBytes(
                in: String(format: "%@/commitlog/%020llu", directory, UInt64(0)), at: Int(victim.physicalOffset) + 4,
                count: 2)  // the size field: resynchronisation has to find the next record itself
            try simulateCrash(directory, checkpointAt: nil)
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            #expect(log.recoveryReport.damaged.count == 1)
            #expect(log.recoveryReport.truncatedTail == nil)
            #expect(log.endOffset == results.last!.physicalOffset + UInt64(results.last!.size))
            for result in results where result != victim { _ = try log.read(at: result.physicalOffset) }
            let queue = QueueID(topic: "orders", queueId: 0)
            let entries = log.queueEntries(queue, from: 0, maxCount: 200)
            #expect(entries.count == 100)
            #expect(entries[10].isLost)
            await log.close()
        }
    }
}
