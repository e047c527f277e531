import Foundation
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("consumption: PRIORITY topics serve higher priorities first, without starving lower ones")
struct PriorityTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    static func send(_ stack: ConsumptionStack, _ text: String, priority: Int32, queue: UInt32 = 0) async throws {
        try await stack.send(
            "jobs", queue: queue, body: text, properties: [(MessageProperty.priority, "\(priority)")], kind: .priority)
    }

    static func receive(_ stack: ConsumptionStack, _ group: ConsumerGroup, _ topic: TopicDefinition, batch: Int)
        async throws -> [Delivery]
    {
        try await stack.engine.receive(
            group: group, topic: topic, batch: batch, invisibleMs: 60_000, filter: .all, clientId: "c", firstQueue: 0)
    }

    @Test("a backlog of low, mid and high priorities is received high first, across queues, ties in send order")
    func highestFirst() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "jobs", type: .priority, queueCount: 2)
            let group = try await stack.earliestGroup("workers")
            try await Self.send(stack, "low", priority: 0)
            try await Self.send(stack, "high", priority: 9)
            try await Self.send(stack, "mid-a", priority: 5)
            try await Self.send(stack, "top", priority: 7, queue: 1)
            try await Self.send(stack, "mid-b", priority: 5)
            let first = try await Self.receive(stack, group, topic, batch: 1)
            #expect(first.map(Self.body) == ["high"])
            let rest = try await Self.receive(stack, group, topic, batch: 10)
            #expect(rest.map(Self.body) == ["top", "mid-a", "mid-b", "low"], "7 (other queue), 5, 5 in send order, 0")
            // The committed position only passes acknowledged messages: "low" (offset 0) is unacked.
            func ack(_ delivery: Delivery) async throws {
                try await stack.engine.ack(
                    group: "workers", topic: "jobs",
                    receiptHandle: stack.engine.encode(delivery.handle, group: "workers", topic: "jobs"))
            }
            for delivery in first + rest where Self.body(delivery) != "low" { try await ack(delivery) }
            let backlog = try #require(await stack.engine.backlog(group: "workers"))
            #expect(backlog.inFlight == 1 && backlog.waiting == 0)
            #expect(try await stack.engine.committedOffset(group: group, topic: topic, queueId: 0) == 0)
            try await ack(try #require(rest.last))
            #expect(try await stack.engine.committedOffset(group: group, topic: topic, queueId: 0) == 4)
            #expect(try await Self.receive(stack, group, topic, batch: 10).isEmpty, "nothing delivered twice")
            await stack.close()
        }
    }

    @Test("a low priority message waiting longer than the aging bound is served before newer high ones")
    func agingServesOldLowMessages() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "jobs", type: .priority, queueCount: 1)
            let group = try await stack.earliestGroup("workers")
            try await Self.send(stack, "old-low", priority: 0)
            try await Self.send(stack, "high-1", priority: 9)
            #expect(try await Self.receive(stack, group, topic, batch: 1).map(Self.body) == ["high-1"])
            // High priorities keep coming; before the bound they win, after it the old one is served.
            try await Self.send(stack, "high-2", priority: 9)
            #expect(try await Self.receive(stack, group, topic, batch: 1).map(Self.body) == ["high-2"])
            clock.advance(byMs: TopicConsumer.priorityAgingMs)
            try await Self.send(stack, "high-3", priority: 9)
            #expect(try await Self.receive(stack, group, topic, batch: 1).map(Self.body) == ["old-low"])
            #expect(try await Self.receive(stack, group, topic, batch: 5).map(Self.body) == ["high-3"])
            await stack.close()
        }
    }

    @Test("the look-ahead window survives a restart: messages read into it are still delivered, once")
    func windowSurvivesRestart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            var topic = try await stack.topics.create(name: "jobs", type: .priority, queueCount: 1)
            var group = try await stack.earliestGroup("workers")
            for (text, priority) in [("a", Int32(1)), ("b", 3), ("c", 2)] {
                try await Self.send(stack, text, priority: priority)
            }
            #expect(try await Self.receive(stack, group, topic, batch: 1).map(Self.body) == ["b"])
            await stack.close()
            stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            topic = try #require(try await stack.topics.topic(named: "jobs"))
            group = try await stack.earliestGroup("workers")
            let after = try await Self.receive(stack, group, topic, batch: 10)
            #expect(Set(after.map(Self.body)) == ["a", "c"], "the window's rest; b stays in flight")
            await stack.close()
        }
    }
}
