import Logging
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@testable import SluiceBroker

/// The follower of a change queue reads in batches: a replay and a cut's look-back both see every
/// record in order without holding the queue in memory.
@Suite("CopiedChangeFollower: replay and look-back in batches")
struct CopiedChangeFollowerTests {
    @Test("a queue longer than a batch: replay applies each record once in order; the look-back sees them all, in order")
    func batches() async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            var logger = Logger(label: "follower-test")
            logger.logLevel = .critical
            let queue = QueueID(topic: "changes", queueId: 0)
            let follower = CopiedChangeFollower<Set<String>>(queue: queue, batch: 4, label: "test", logger: logger)
            for index in 0..<11 { try await stack.send("changes", body: "change-\(index)") }
            let expected = (0..<11).map { "change-\($0)" }

            var applied: [String] = []
            let read = try await follower.replay(stack.log) { (record: StoredRecord) throws(BrokerError) in
                applied.append(String(buffer: record.body))
            }
            #expect(read == 11)
            #expect(applied == expected)
            // Caught up: nothing more until something new is appended.
            #expect(try await follower.replay(stack.log) { (_: StoredRecord) throws(BrokerError) in } == 0)

            var seen: [String] = []
            follower.forEachRemainingRecord(stack.log) { seen.append(String(buffer: $0.body)) }
            #expect(seen == expected)
            await stack.close()
        }
    }
}
