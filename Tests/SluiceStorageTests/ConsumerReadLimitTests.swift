import Foundation
import Synchronization
import SluiceStorage
import SluiceTesting
import Testing

/// The consumer read limit a replicated group's leader sets (its high-water mark): consumers'
/// entries stop before it, internal readers do not, and moving it wakes consumers of the queues
/// whose records it reached.
@Suite("commit log: consumer read limit")
struct ConsumerReadLimitTests {
    @Test("reading the limit many times does not wrap it: its closure is called as deep on the last read as on the first")
    func limitIsNotRewrapped() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            // The stack depth at which the installed closure runs: one layer of call per read
            // more would mean each read wrapped it again (a function stored straight in a generic
            // lock box is re-abstracted by every inout access; a leader reads it per fetch and
            // per consumer scan, so its sends slowed with its age and would overflow the stack).
            let depths = Mutex<[Int]>([])
            log.setConsumerReadLimit {
                depths.withLock { $0.append(Thread.callStackReturnAddresses.count) }
                return 0
            }
            _ = log.consumableEnd
            for _ in 0..<20_000 { log.consumerReadLimitAdvanced() }
            _ = log.consumableEnd
            let seen = depths.withLock { $0 }
            #expect(seen.count >= 2)
            #expect(seen.last == seen.first, "the limit ran \((seen.last ?? 0) - (seen.first ?? 0)) frames deeper after 20,000 reads")
            await log.close()
        }
    }

    @Test("consumableEntries stops at the limit, queueEntries does not, and advancing it wakes the held-back queues")
    func limitAndWakeUp() async throws {
        try await withTemporaryDirectory { directory in
            let log = try await CommitLog.open(testConfiguration(directory), logger: quietLogger)
            let queue = QueueID(topic: "orders", queueId: 0)
            let other = QueueID(topic: "audit", queueId: 0)
            let limit = Atomic<UInt64>(0)
            let woken = Mutex<[[QueueID]]>([])
            log.setConsumerReadLimit { limit.load(ordering: .relaxed) }
            _ = log.addConsumableListener { queues in woken.withLock { $0.append(queues) } }

            let first = try await log.append(message("one"))
            let second = try await log.append(message("two"))
            _ = try await log.append(message("three", topic: "audit"))
            #expect(log.consumableEntries(queue, from: 0, maxCount: 10).isEmpty)
            #expect(log.queueEntries(queue, from: 0, maxCount: 10).count == 2)

            // Up to the end of the first record: only it is consumable, and only its queue woken.
            limit.store(first.physicalOffset + UInt64(first.size), ordering: .relaxed)
            log.consumerReadLimitAdvanced()
            #expect(log.consumableEntries(queue, from: 0, maxCount: 10).map(\.queueOffset) == [0])
            #expect(woken.withLock { $0 } == [[queue]])

            // Not moved: nobody is woken again.
            log.consumerReadLimitAdvanced()
            #expect(woken.withLock { $0.count } == 1)

            limit.store(log.endOffset, ordering: .relaxed)
            log.consumerReadLimitAdvanced()
            #expect(log.consumableEntries(queue, from: 0, maxCount: 10).map(\.queueOffset) == [0, 1])
            #expect(log.consumableEntries(other, from: 0, maxCount: 10).count == 1)
            #expect(Set(woken.withLock { $0.last ?? [] }) == [queue, other])
            #expect(second.queueOffset == 1)

            // Without a limit consumers read to the end.
            log.setConsumerReadLimit(nil)
            _ = try await log.append(message("four"))
            #expect(log.consumableEntries(queue, from: 0, maxCount: 10).count == 3)
            await log.close()
        }
    }
}
