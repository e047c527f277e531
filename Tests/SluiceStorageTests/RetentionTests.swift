import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@Suite("commit log: retention")
struct RetentionTests {
    @Test("sealed segments past the retention age are deleted; a pin keeps what it covers")
    func ageAndPin() async throws {
        try await withTemporaryDirectory { directory in
            var configuration = testConfiguration(directory)
            configuration.retention.maxAge = .seconds(3600)
            configuration.retention.maxDiskUsedFraction = 1.0
            let clock = ManualWallClock(startMs: 1_000_000)
            configuration.wallClockMs = { clock.now() }
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            var results: [AppendResult] = []
            for index in 0..<200 { results.append(try await log.append(message("r\(index)" + String(repeating: "p", count: 200)))) }
            let segmentsBefore = try FileManager.default.contentsOfDirectory(atPath: directory + "/commitlog").count

            // Young segments stay.
            #expect(await log.enforceRetention().deletedSegments.isEmpty)

            // A pin at record 100 keeps its segment and everything after it.
            let pinned = results[100].physicalOffset
            log.setRetentionPin { pinned }
            clock.set(Int64(Date().timeIntervalSince1970 * 1000) + 2 * 3_600_000)
            let report = await log.enforceRetention()
            #expect(!report.deletedSegments.isEmpty)
            #expect(report.blockedByPin)
            #expect(log.minOffset <= pinned)
            _ = try log.read(at: pinned)
            #expect(throws: StorageError.self) { _ = try log.read(at: results[0].physicalOffset) }
            let queue = QueueID(topic: "orders", queueId: 0)
            let bounds = log.queueBounds(queue)
            #expect(bounds.min > 0)
            let first = log.queueEntries(queue, from: 0, maxCount: 1)
            #expect(first.first?.physicalOffset ?? 0 >= log.minOffset)

            // Without the pin everything sealed goes; the active segment stays.
            log.setRetentionPin(nil)
            _ = await log.enforceRetention()
            let segmentsAfter = try FileManager.default.contentsOfDirectory(atPath: directory + "/commitlog").count
            #expect(segmentsAfter == 1)
            #expect(segmentsBefore > segmentsAfter)
            _ = try log.read(at: results.last!.physicalOffset)
            await log.close()

            // Reopen after retention: the log starts where retention left it.
            let reopened = try await CommitLog.open(configuration, logger: quietLogger)
            _ = try reopened.read(at: results.last!.physicalOffset)
            #expect(reopened.queueBounds(queue).next == 200)
            await reopened.close()
        }
    }
}
