import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Synchronization
import Testing

@Suite("commit log: append, read, index")
struct CommitLogTests {
    @Test("appends read back byte for byte with dense queue offsets", arguments: [FlushPolicy.sync, .async(interval: .milliseconds(5))])
    func roundTrip(flush: FlushPolicy) async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory, flush: flush), logger: quietLogger)
            var results: [AppendResult] = []
            for index in 0..<50 {
                results.append(
                    try await log.append(message("body-\(index)", queue: UInt32(index % 3), tags: "t\(index % 2)", keys: ["k\(index)"])))
            }
            for queue in 0..<3 {
                let offsets = results.enumerated().filter { $0.offset % 3 == queue }.map(\.element.queueOffset)
                #expect(offsets == Array(0..<UInt64(offsets.count)))
            }
            for (index, result) in results.enumerated() {
                let record = try log.read(at: result.physicalOffset)
                #expect(bodyText(record) == "body-\(index)")
                #expect(record.messageId == result.messageId)
                #expect(record.message.keys == ["k\(index)"])
                #expect(record.message.tags == "t\(index % 2)")
                #expect(record.message.properties.first?.1 == "body-\(index)")
                #expect(record.queueOffset == result.queueOffset)
            }
            let queue = QueueID(topic: "orders", queueId: 1)
            let entries = log.queueEntries(queue, from: 0, maxCount: 100)
            #expect(entries.count == 17)
            for entry in entries {
                let record = try log.read(entry, of: queue)
                #expect(entry.tagHash == record.message.tags.sluiceTagHash)
            }
            #expect(log.queueBounds(queue) == (0, 17))
            await log.close()
        }
    }

    @Test("records roll across many small segments and survive a clean reopen")
    func rollAndReopen() async throws {
        try await withTemporaryDirectory { directory in
            var physical: [UInt64] = []
            do {
                let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
                for index in 0..<200 {
                    physical.append(try await log.append(message(String(repeating: "x", count: index % 700) + "#\(index)")).physicalOffset)
                }
                await log.close()
            }
            let segments = try FileManager.default.contentsOfDirectory(atPath: directory + "/commitlog")
            #expect(segments.count > 5)
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            #expect(log.recoveryReport.previousShutdownWasClean)
            #expect(log.recoveryReport.recordsVerified == 0)  // the checkpoint covered everything
            for (index, offset) in physical.enumerated() {
                #expect(bodyText(try log.read(at: offset)).hasSuffix("#\(index)"))
            }
            let next = try await log.append(message("after"))
            #expect(next.queueOffset == 200)
            await log.close()
        }
    }

    @Test("message ids and keys resolve through the key index, across index files")
    func lookups() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            for index in 0..<100 {  // 200 key entries: more than three 64-entry index files
                _ = try await log.append(message("m\(index)", id: "ID-\(index)", keys: ["order-\(index % 10)"]))
            }
            #expect(log.lookup(messageId: "ID-7").map(bodyText) == ["m7"])
            #expect(log.lookup(messageId: "ID-0").map(bodyText) == ["m0"])
            #expect(log.lookup(messageId: "missing").isEmpty)
            let byKey = log.lookup(key: "order-3").map(bodyText)
            #expect(Set(byKey) == Set((0..<10).map { "m\($0 * 10 + 3)" }))
            await log.close()
        }
    }

    @Test("the store generates a unique message id when none is given")
    func generatedIds() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let first = try await log.append(message("a"))
            let second = try await log.append(message("b"))
            #expect(first.messageId.count == 32 && first.messageId != second.messageId)
            #expect(log.lookup(messageId: second.messageId).map(bodyText) == ["b"])
            await log.close()
        }
    }

    @Test("a timestamp resolves to the first queue offset stored at or after it")
    func timeIndex() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock(startMs: 1_000)
            var configuration = testConfiguration(directory)
            configuration.wallClockMs = { clock.now() }
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            for index in 0..<20 {
                clock.set(1_000 + Int64(index) * 100)
                _ = try await log.append(message("t\(index)"))
            }
            let queue = QueueID(topic: "orders", queueId: 0)
            #expect(log.queueOffset(queue, atOrAfterTimestampMs: 0) == 0)
            #expect(log.queueOffset(queue, atOrAfterTimestampMs: 1_550) == 6)
            #expect(log.queueOffset(queue, atOrAfterTimestampMs: 1_600) == 6)
            #expect(log.queueOffset(queue, atOrAfterTimestampMs: 99_999) == 20)
            await log.close()
        }
    }

    @Test("a commit-log offset resolves to the first queue offset whose record starts at or after it, interleaved with another queue")
    func firstQueueOffsetAtPhysical() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let queue = QueueID(topic: "orders", queueId: 0)
            #expect(log.firstQueueOffset(queue, atOrAfterPhysicalOffset: 0) == 0, "an empty queue: its end")
            var starts: [UInt64] = []
            for index in 0..<37 {
                starts.append(try await log.append(message("q\(index)")).physicalOffset)
                _ = try await log.append(message("other\(index)", queue: 1))
            }
            #expect(log.firstQueueOffset(queue, atOrAfterPhysicalOffset: 0) == 0)
            for (offset, start) in starts.enumerated() {
                #expect(log.firstQueueOffset(queue, atOrAfterPhysicalOffset: start) == UInt64(offset))
                #expect(log.firstQueueOffset(queue, atOrAfterPhysicalOffset: start + 1) == UInt64(offset + 1))
            }
            #expect(log.firstQueueOffset(queue, atOrAfterPhysicalOffset: .max) == 37)
            await log.close()
        }
    }

    @Test("detached appends from one caller are stored in call order, each completion called once, without waiting")
    func detachedAppendsKeepOrder() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let completed = Mutex<[UInt64]>([])
            for index in 0..<200 {
                try log.appendDetached(message("d\(index)")) { result in
                    if case .success(let appended) = result { completed.withLock { $0.append(appended.queueOffset) } }
                }
            }
            try await log.syncDeferred()
            let queue = QueueID(topic: "orders", queueId: 0)
            let deadline = ContinuousClock.now + .seconds(10)
            while log.queueBounds(queue).next < 200, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            let stored = log.queueEntries(queue, from: 0, maxCount: 200).compactMap { try? log.read($0, of: queue) }
            #expect(stored.map(bodyText) == (0..<200).map { "d\($0)" })
            #expect(completed.withLock { $0.sorted() } == (0..<200).map(UInt64.init))
            await log.close()
        }
    }

    @Test("concurrent appenders are group-committed: fewer syncs than records, every offset once")
    func groupCommit() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory, segmentSize: 1 << 20), logger: quietLogger)
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for index in 0..<1000 {
                    group.addTask { try await log.append(message("c\(index)", queue: UInt32(index % 4))) }
                }
                var all: [AppendResult] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(Set(results.map(\.physicalOffset)).count == 1000)
            for queue in 0..<4 {
                let offsets = results.filter { log.queueEntries(QueueID(topic: "orders", queueId: UInt32(queue)), from: $0.queueOffset, maxCount: 1).first?.physicalOffset == $0.physicalOffset }
                #expect(offsets.count == 250)
            }
            let statistics = log.statistics
            #expect(statistics.records == 1000)
            #expect(statistics.syncs < 1000)
            await log.close()
        }
    }

    @Test("a batch append stores each record in order with one sync; a bad record fails alone")
    func batchAppend() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory, segmentSize: 1 << 20), logger: quietLogger)
            var huge = message("huge")
            huge.body = ByteBuffer(repeating: 0, count: 2 << 20)
            let records = [message("a"), message("b", topic: ""), message("c"), huge, message("d", queue: 1)]
            let syncsBefore = log.statistics.syncs
            let results = await log.append(contentsOf: records)
            #expect(results.count == 5)
            let stored = results.compactMap { try? $0.get() }
            #expect(stored.count == 3)
            #expect((try? results[0].get())?.queueOffset == 0 && (try? results[2].get())?.queueOffset == 1)
            #expect((try? results[4].get())?.queueOffset == 0)
            if case .failure(let error) = results[3] { #expect(error.code == .recordTooLarge) } else { Issue.record("huge stored") }
            if case .failure = results[1] {} else { Issue.record("a record without a topic was stored") }
            #expect(log.statistics.syncs - syncsBefore == 1)
            for (result, text) in zip([results[0], results[2], results[4]], ["a", "c", "d"]) {
                #expect(try bodyText(log.read(at: result.get().physicalOffset)) == text)
            }
            #expect(await log.append(contentsOf: []).isEmpty)
            await log.close()
            let closed = await log.append(contentsOf: [message("late")])
            if case .failure(let error) = closed[0] { #expect(error.code == .closed) } else { Issue.record("appended after close") }
        }
    }

    @Test("bad records are refused with the field and limit named, and nothing is written")
    func validation() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            await #expect(throws: StorageError.self) { _ = try await log.append(message("x", topic: "")) }
            do throws(StorageError) {
                var huge = message("x")
                huge.body = ByteBuffer(repeating: 0, count: 9000)
                _ = try await log.append(huge)
                Issue.record("a record larger than a segment was accepted")
            } catch {
                #expect(error.code == .recordTooLarge)
                #expect(error.message.contains("9"))
            }
            #expect(log.endOffset == 0)
            await log.close()
        }
    }

    @Test("a second open of a locked data folder is refused")
    func dataFolderLock() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            do throws(StorageError) {
                _ = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
                Issue.record("second open succeeded")
            } catch {
                #expect(error.code == .dataDirectoryLocked)
                #expect(error.message.contains("in use"))
            }
            await log.close()
            let again = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            await again.close()
        }
    }
}

/// A wall clock the test moves by hand.
final class ManualWallClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(startMs: Int64) { value = startMs }
    func now() -> Int64 { lock.withLock { value } }
    func set(_ ms: Int64) { lock.withLock { value = ms } }
}

@Suite("commit log: secondary queue entries")
struct SecondaryQueueTests {
    @Test("a record with a secondary queue is indexed in both queues, also after an index rebuild")
    func secondaryQueue() async throws {
        try await withTemporaryDirectory { directory in
            let events = QueueID(topic: "events", queueId: 0)
            var results: [AppendResult] = []
            do {
                let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
                for index in 0..<10 {
                    var record = message("s\(index)", queue: UInt32(index % 2))
                    if index % 3 == 0 { record.secondaryQueue = events }
                    results.append(try await log.append(record))
                }
                #expect(results.compactMap(\.secondaryQueueOffset) == [0, 1, 2, 3])
                await log.close()
            }
            try FileManager.default.removeItem(atPath: directory + "/index")
            try FileManager.default.removeItem(atPath: directory + "/checkpoint")
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let entries = log.queueEntries(events, from: 0, maxCount: 10)
            #expect(entries.map(\.physicalOffset) == [0, 3, 6, 9].map { results[$0].physicalOffset })
            for entry in entries {
                let record = try log.read(entry, of: events)
                #expect(record.message.secondaryQueue == events)
                #expect(record.message.flags == 0)
            }
            #expect(log.queueBounds(QueueID(topic: "orders", queueId: 0)).next == 5)
            var own = message("own")
            own.secondaryQueue = QueueID(topic: "orders", queueId: 0)
            await #expect(throws: StorageError.self) { _ = try await log.append(own) }
            await log.close()
        }
    }
}
