import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

/// A replica rebuilt from its leader's snapshot starts an empty log at the leader's first
/// retained offset and copies from there: its queue indexes start at the first copied record's
/// queue offset, not at 0 behind a run of lost-entry markers.
@Suite("commit log: an empty log starting past 0")
struct SnapshotStartTests {
    @Test("a log created at the leader's retained start copies the rest and indexes it at the leader's queue offsets, also after reopening and a rebuild")
    func copyFromRetainedStart() async throws {
        try await withTemporaryDirectory { leaderDirectory in
            try await withTemporaryDirectory { followerDirectory in
                var leaderConfiguration = testConfiguration(leaderDirectory, segmentSize: 4096)
                leaderConfiguration.retention.maxAge = .seconds(3600)
                leaderConfiguration.retention.maxDiskUsedFraction = 1.0
                let clock = ManualWallClock(startMs: 1_000_000)
                leaderConfiguration.wallClockMs = { clock.now() }
                let leader = try await CommitLog.open(leaderConfiguration, logger: quietLogger)
                var appended: [AppendResult] = []
                for index in 0..<90 {
                    let text = "m\(index)" + String(repeating: "x", count: 150)
                    appended.append(try await leader.append(message(text, queue: UInt32(index % 3), keys: ["k\(index)"])))
                }
                clock.set(Int64(Date().timeIntervalSince1970 * 1000) + 2 * 3_600_000)
                #expect(!(await leader.enforceRetention().deletedSegments.isEmpty))
                let start = leader.minOffset
                #expect(start > 0)
                let kept = appended.filter { $0.physicalOffset >= start }
                #expect(kept.count < appended.count && !kept.isEmpty)

                let followerConfiguration = testConfiguration(followerDirectory, segmentSize: 4096)
                try CommitLog.createEmptyLog(followerConfiguration, startingAt: start)
                #expect(throws: StorageError.self) { try CommitLog.createEmptyLog(followerConfiguration, startingAt: start) }
                let follower = try await CommitLog.open(followerConfiguration, logger: quietLogger)
                #expect(follower.minOffset == start && follower.endOffset == start)
                follower.refuseLocalAppends("follows the leader")
                while follower.endOffset < leader.endOffset {
                    _ = try await follower.appendReplicated(try leader.readReplicationChunk(from: follower.endOffset, maxBytes: 1000))
                }
                func expectSameIndexes(_ copy: CommitLog) throws {
                    for queueId in 0..<3 {
                        let queue = QueueID(topic: "orders", queueId: UInt32(queueId))
                        let (leaderBounds, copyBounds) = (leader.queueBounds(queue), copy.queueBounds(queue))
                        #expect(copyBounds.next == leaderBounds.next)
                        #expect(copyBounds.min > 0, "queue \(queueId) starts at 0 on the copy")
                        let first = copy.queueEntries(queue, from: 0, maxCount: 1).first
                        #expect(first?.physicalOffset ?? 0 >= start)
                        #expect(first?.isLost == false)
                        for entry in copy.queueEntries(queue, from: copyBounds.min, maxCount: 1000) {
                            #expect(try copy.read(entry, of: queue).queueOffset == entry.queueOffset)
                        }
                    }
                    for result in kept {
                        let record = try copy.read(at: result.physicalOffset)
                        #expect(record.messageId == result.messageId)
                        #expect(copy.lookup(messageId: result.messageId).count == 1)
                    }
                }
                try expectSameIndexes(follower)
                await follower.close()

                // Reopened (indexes from their files), then with every index lost (rebuilt from the log).
                let reopened = try await CommitLog.open(followerConfiguration, logger: quietLogger)
                try expectSameIndexes(reopened)
                await reopened.close()
                try FileManager.default.removeItem(atPath: followerDirectory + "/index")
                try FileManager.default.removeItem(atPath: followerDirectory + "/checkpoint")
                let rebuilt = try await CommitLog.open(followerConfiguration, logger: quietLogger)
                try expectSameIndexes(rebuilt)
                await rebuilt.close()

                // Thrown away: an empty folder but for what the log does not own.
                try "keep".write(toFile: followerDirectory + "/other", atomically: true, encoding: .utf8)
                try CommitLog.discardLogFiles(followerConfiguration)
                #expect(!FileManager.default.fileExists(atPath: followerDirectory + "/commitlog"))
                #expect(!FileManager.default.fileExists(atPath: followerDirectory + "/index"))
                #expect(FileManager.default.fileExists(atPath: followerDirectory + "/other"))
                await leader.close()
            }
        }
    }
}
