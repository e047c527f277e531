import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

/// Copies `leader` into `follower` chunk by chunk until the follower ends where the leader does.
private func replicate(_ leader: CommitLog, into follower: CommitLog, maxBytes: Int) async throws -> Int {
    var chunks = 0
    while follower.endOffset < leader.endOffset {
        let chunk = try leader.readReplicationChunk(from: follower.endOffset, maxBytes: maxBytes)
        #expect(!chunk.isEmpty)
        let end = try await follower.appendReplicated(chunk)
        #expect(end == chunk.nextOffset)
        chunks += 1
    }
    return chunks
}

@Suite("commit log: replication")
struct ReplicationStorageTests {
    @Test("a follower copies the leader's log across segment ends, byte for byte, and indexes it", arguments: [1, 700, 1 << 20])
    func copiesAcrossSegments(maxBytes: Int) async throws {
        try await withTemporaryDirectory { leaderDirectory in
            try await withTemporaryDirectory { followerDirectory in
                let leader = try await CommitLog.open(testConfiguration(leaderDirectory, segmentSize: 4096), logger: quietLogger)
                let follower = try await CommitLog.open(testConfiguration(followerDirectory, segmentSize: 4096), logger: quietLogger)
                follower.refuseLocalAppends("follows the leader")
                var appended: [AppendResult] = []
                for index in 0..<60 {
                    let text = "m\(index)" + String(repeating: "x", count: index * 7 % 300)
                    appended.append(try await leader.append(message(text, queue: UInt32(index % 3), keys: ["k\(index)"])))
                }
                #expect(leader.endOffset > 3 * 4096)  // several segment ends crossed
                let chunks = try await replicate(leader, into: follower, maxBytes: maxBytes)
                #expect(chunks >= 4)
                #expect(follower.endOffset == leader.endOffset)
                for result in appended {
                    let copy = try follower.read(at: result.physicalOffset)
                    let original = try leader.read(at: result.physicalOffset)
                    #expect(copy.messageId == original.messageId)
                    #expect(bodyText(copy) == bodyText(original))
                    #expect(copy.queueOffset == original.queueOffset)
                    #expect(follower.lookup(messageId: result.messageId).count == 1)
                }
                for queueId in 0..<3 {
                    let queue = QueueID(topic: "orders", queueId: UInt32(queueId))
                    #expect(follower.queueBounds(queue) == leader.queueBounds(queue))
                }
                // Nothing new: an empty chunk.
                #expect(try leader.readReplicationChunk(from: leader.endOffset, maxBytes: 1000).isEmpty)
                await leader.close()
                await follower.close()

                // The copy survives a restart exactly as a local log would.
                let reopened = try await CommitLog.open(testConfiguration(followerDirectory, segmentSize: 4096), logger: quietLogger)
                #expect(reopened.endOffset == appended.last!.physicalOffset + UInt64(appended.last!.size))
                #expect(reopened.queueBounds(QueueID(topic: "orders", queueId: 0)).next == 20)
                await reopened.close()
            }
        }
    }

    @Test("a follower refuses local appends with notLeader and takes them again once allowed")
    func refusesLocalAppends() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            log.refuseLocalAppends("this broker follows node a")
            let error = await #expect(throws: StorageError.self) { _ = try await log.append(message("refused")) }
            #expect(error?.code == .notLeader)
            #expect(log.endOffset == 0)
            log.refuseLocalAppends(nil)
            _ = try await log.append(message("accepted"))
            #expect(log.endOffset > 0)
            await log.close()
        }
    }

    @Test("a chunk that does not continue the log, or fails its checks, is refused and nothing is written")
    func refusesMismatchedChunks() async throws {
        try await withTemporaryDirectory { leaderDirectory in
            try await withTemporaryDirectory { followerDirectory in
                let leader = try await CommitLog.open(testConfiguration(leaderDirectory), logger: quietLogger)
                let follower = try await CommitLog.open(testConfiguration(followerDirectory), logger: quietLogger)
                let first = try await leader.append(message("one"))
                _ = try await leader.append(message("two"))
                // Starts at the second record while the follower is empty.
                let second = try leader.readReplicationChunk(from: first.physicalOffset + UInt64(first.size), maxBytes: 1 << 20)
                let gap = await #expect(throws: StorageError.self) { _ = try await follower.appendReplicated(second) }
                #expect(gap?.code == .replicaMismatch)
                // A flipped byte fails the CRC.
                var chunk = try leader.readReplicationChunk(from: 0, maxBytes: 1 << 20)
                let last = chunk.bytes.readableBytes - 1
                chunk.bytes.setInteger(chunk.bytes.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
                let damaged = await #expect(throws: StorageError.self) { _ = try await follower.appendReplicated(chunk) }
                #expect(damaged?.code == .replicaMismatch)
                #expect(follower.endOffset == 0)
                await leader.close()
                await follower.close()
            }
        }
    }

    @Test("truncation drops a divergent tail, its index entries and later segments, and survives a restart")
    func truncatesDivergentTail() async throws {
        try await withTemporaryDirectory { directory in
            let configuration = testConfiguration(directory, segmentSize: 4096)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            var appended: [AppendResult] = []
            for index in 0..<40 { appended.append(try await log.append(message("r\(index)" + String(repeating: "y", count: 200)))) }
            let keep = appended[15]
            let cut = keep.physicalOffset + UInt64(keep.size)
            try await log.truncate(to: cut)
            #expect(log.endOffset == cut)
            let queue = QueueID(topic: "orders", queueId: 0)
            #expect(log.queueBounds(queue).next == 16)
            #expect(throws: StorageError.self) { _ = try log.read(at: appended[20].physicalOffset) }
            #expect(log.lookup(messageId: appended[20].messageId).isEmpty)
            // New records reuse the cut offsets and queue offsets.
            let next = try await log.append(message("after the cut"))
            #expect(next.physicalOffset == cut)
            #expect(next.queueOffset == 16)
            await log.close()
            let reopened = try await CommitLog.open(configuration, logger: quietLogger)
            #expect(reopened.endOffset == next.physicalOffset + UInt64(next.size))
            #expect(reopened.queueBounds(queue).next == 17)
            #expect(bodyText(try reopened.read(at: next.physicalOffset)) == "after the cut")
            let segments = try FileManager.default.contentsOfDirectory(atPath: directory + "/commitlog").filter { !$0.hasSuffix(".creating") }
            #expect(segments.count == Int(cut / 4096) + 1)
            await reopened.close()
        }
    }

    @Test("a cut only where a record starts, at a segment's end or at the log's end; inside a record it is refused and the log is kept")
    func cutsOnlyAtRecordBoundaries() async throws {
        try await withTemporaryDirectory { directory in
            let configuration = testConfiguration(directory, segmentSize: 4096)
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            var appended: [AppendResult] = []
            for index in 0..<40 { appended.append(try await log.append(message("r\(index)" + String(repeating: "y", count: 200)))) }
            let end = log.endOffset
            for result in appended { #expect(log.isRecordBoundary(result.physicalOffset)) }
            #expect(log.isRecordBoundary(end))
            #expect(log.isRecordBoundary(4096), "a segment's end (the next one's start)")
            let inside = appended[10].physicalOffset + 7
            for offset in [inside, appended[10].physicalOffset + 1, appended[39].physicalOffset + UInt64(appended[39].size) - 1, end + 1, .max] {
                #expect(!log.isRecordBoundary(offset), "\(offset)")
            }
            let error = await #expect(throws: StorageError.self) { try await log.truncate(to: inside) }
            #expect(error?.code == .replicaMismatch)
            #expect(error?.message.contains("no record starts there") == true, "\(String(describing: error))")
            #expect(log.endOffset == end)
            #expect(bodyText(try log.read(at: appended[10].physicalOffset)).hasPrefix("r10"))
            try await log.truncate(to: appended[10].physicalOffset)
            #expect(log.endOffset == appended[10].physicalOffset)
            await log.close()
        }
    }
}
