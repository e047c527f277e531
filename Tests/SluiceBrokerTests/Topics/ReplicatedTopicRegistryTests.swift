import Foundation
import Logging
import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

/// Topic changes of a replicated group are records in the log's metadata queue
/// (docs/architecture.md §15): a follower replays them, refuses its own, and a cut tail's
/// changes are put back as the remaining log defines them.
@Suite("ReplicatedTopicRegistry: topic changes through the log")
struct ReplicatedTopicRegistryTests {
    static let logger: Logger = {
        var logger = Logger(label: "replicated-topics-test")
        logger.logLevel = .critical
        return logger
    }()

    func withRegistry(_ body: (ConsumptionStack, ReplicatedTopicRegistry) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let stack = try await ConsumptionStack.open(directory)
            let registry = ReplicatedTopicRegistry(local: stack.topics, log: stack.log, leader: { "b2" }, logger: Self.logger)
            do {
                try await body(stack, registry)
            } catch {
                await stack.close()
                throw error
            }
            await stack.close()
        }
    }

    @Test("creates (also identical repeats, not refused ones) and deletes are appended to the metadata queue; a replay from the start rebuilds an empty table")
    func replayRebuilds() async throws {
        try await withRegistry { stack, registry in
            _ = try await registry.create(name: "orders", type: .normal, queueCount: 4)
            _ = try await registry.create(name: "orders", type: .normal, queueCount: 4)  // identical repeat: recorded again
            await #expect(throws: BrokerError.self) { _ = try await registry.create(name: "orders", type: .fifo, queueCount: 4) }
            _ = try await registry.create(name: "gone", type: .fifo, queueCount: 2)
            #expect(try await registry.delete(named: "gone"))
            #expect(stack.log.queueBounds(ReplicatedTopicRegistry.queue).next == 4)

            // A follower's table (empty here) replays the queue.
            for topic in try await stack.topics.list() { _ = try await stack.topics.delete(named: topic.name) }
            let follower = ReplicatedTopicRegistry(local: stack.topics, log: stack.log, leader: { "b2" }, logger: Self.logger)
            #expect(try await follower.applyCopiedChanges() == 4)
            #expect(try await stack.topics.list().map(\.name) == ["orders"])
            #expect(try await stack.topics.topic(named: "orders")?.queueCount == 4)
            #expect(try await follower.applyCopiedChanges() == 0)
        }
    }

    @Test("a follower refuses topic changes and names the leader; its table is unchanged")
    func followerRefuses() async throws {
        try await withRegistry { stack, registry in
            stack.log.refuseLocalAppends("follower")
            let error = await #expect(throws: BrokerError.self) {
                _ = try await registry.create(name: "orders", type: .normal, queueCount: 4)
            }
            #expect(error?.code == .notLeader)
            #expect(error?.message.contains("the leader is b2") == true, "\(String(describing: error))")
            let left = try await stack.topics.topic(named: "orders")
            #expect(left == nil)
        }
    }

    @Test("a cut tail: a topic created only there is deleted, one deleted only there comes back")
    func cutTail() async throws {
        try await withRegistry { stack, registry in
            _ = try await registry.create(name: "kept", type: .normal, queueCount: 4)
            let cut = stack.log.endOffset
            _ = try await registry.create(name: "tail-only", type: .normal, queueCount: 4)
            #expect(try await registry.delete(named: "kept"))

            await registry.forgetLogTail(from: cut)
            try await stack.log.truncate(to: cut)
            await registry.copiedLogTruncated()
            #expect(try await stack.topics.list().map(\.name) == ["kept"])
            // It never replayed (it made its records itself), so it does not know how far it
            // applied them: the queue from its start, the one record left, changes nothing.
            #expect(try await registry.applyCopiedChanges() == 1)
            #expect(try await stack.topics.list().map(\.name) == ["kept"])
            #expect(try await registry.applyCopiedChanges() == 0)
        }
    }
}
