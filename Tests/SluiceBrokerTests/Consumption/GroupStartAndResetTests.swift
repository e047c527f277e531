import Foundation
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("consumption: where a new group starts (consumeFrom) and operator offset resets")
struct GroupStartAndResetTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    func withStack(_ body: (ConsumptionStack, ManualClock) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            do {
                try await body(stack, clock)
            } catch {
                await stack.close()
                throw error
            }
            await stack.close()
        }
    }

    func receive(_ stack: ConsumptionStack, _ group: ConsumerGroup, _ topic: TopicDefinition, invisibleMs: Int64 = 10_000)
        async throws -> [Delivery]
    {
        try await stack.engine.receive(
            group: group, topic: topic, batch: 32, invisibleMs: invisibleMs, filter: .all, clientId: "c", firstQueue: 0)
    }

    func ackAll(_ stack: ConsumptionStack, _ group: String, _ topic: String, _ deliveries: [Delivery]) async throws {
        for delivery in deliveries {
            try await stack.engine.ack(
                group: group, topic: topic, receiptHandle: stack.engine.encode(delivery.handle, group: group, topic: topic))
        }
    }

    @Test("a cut log: a group forgets what it held past the cut and reads the records later written there as new")
    func cutLogMovesPositionsBack() async throws {
        try await withStack { stack, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.engine.groupForConsumer("g")
            try await stack.engine.subscribe(group: group, topic: topic)
            try await stack.send("t", body: "a")
            let cut = stack.log.endOffset
            try await stack.send("t", body: "b")
            try await stack.send("t", body: "c")
            let delivered = try await receive(stack, group, topic)
            #expect(delivered.map(Self.body) == ["a", "b", "c"])
            try await ackAll(stack, "g", "t", Array(delivered.prefix(1)))

            // A replica cutting a divergent tail: b and c are gone (c was never acknowledged, b neither).
            try await stack.log.truncate(to: cut)
            #expect(try await stack.engine.logWasCut() == 1)
            #expect(try await stack.engine.logWasCut() == 0, "a second call finds nothing past the cut")
            try await stack.send("t", body: "d")
            #expect(try await receive(stack, group, topic).map(Self.body) == ["d"])
            // The handle of a forgotten delivery no longer acknowledges anything.
            await #expect(throws: BrokerError.self) { try await ackAll(stack, "g", "t", [delivered[1]]) }
        }
    }

    @Test("a group made on first use starts at the newest message; what was sent before is never delivered")
    func latestByDefault() async throws {
        try await withStack { stack, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 2)
            for index in 0..<4 { try await stack.send("t", queue: UInt32(index % 2), body: "old\(index)") }
            let group = try await stack.engine.groupForConsumer("g")
            #expect(group.consumeFrom == .latest)
            #expect(try await receive(stack, group, topic).isEmpty)
            try await stack.send("t", queue: 1, body: "new")
            #expect(try await receive(stack, group, topic).map(Self.body) == ["new"])
        }
    }

    @Test("a subscription fixes the start position: messages sent between subscribing and the first receive arrive")
    func subscriptionFixesStart() async throws {
        try await withStack { stack, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "before")
            let group = try await stack.engine.groupForConsumer("g")
            try await stack.engine.subscribe(group: group, topic: topic)
            try await stack.send("t", body: "after")
            #expect(try await receive(stack, group, topic).map(Self.body) == ["after"])
        }
    }

    @Test("the start position is stored: after a restart the group continues from it, not from the new end")
    func startSurvivesRestart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "before")
            try await stack.engine.subscribe(group: try await stack.engine.groupForConsumer("g"), topic: topic)
            try await stack.send("t", body: "after")
            await stack.close()
            stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let group = try #require(stack.engine.group(named: "g"))
            #expect(group.consumeFrom == .latest, "the setting survived")
            try await stack.send("t", body: "later")
            #expect(try await receive(stack, group, topic).map(Self.body) == ["after", "later"])
            await stack.close()
        }
    }

    @Test("consumeFrom earliest reads from the oldest message; a time reads from the first message stored at or after it")
    func earliestAndTimestamp() async throws {
        try await withStack { stack, clock in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            for index in 0..<5 {
                try await stack.send("t", body: "m\(index)")
                try await Task.sleep(for: .milliseconds(5))
            }
            let entries = stack.log.queueEntries(QueueID(topic: "t", queueId: 0), from: 0, maxCount: 10)
            let earliest = try await stack.engine.saveGroup(
                ConsumerGroup(name: "all", createdAtMs: clock.nowMs, consumeFrom: .earliest))
            #expect(try await receive(stack, earliest, topic).map(Self.body) == ["m0", "m1", "m2", "m3", "m4"])
            let fromTime = try await stack.engine.saveGroup(
                ConsumerGroup(name: "since", createdAtMs: clock.nowMs, consumeFrom: .timestamp(ms: entries[3].storeTimestampMs)))
            #expect(try await receive(stack, fromTime, topic).map(Self.body) == ["m3", "m4"])
        }
    }

    @Test("reset to earliest delivers finished messages again; to latest skips the unread; to a time picks the first at or after it")
    func resetTargets() async throws {
        try await withStack { stack, clock in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.earliestGroup("g")
            for index in 0..<4 {
                try await stack.send("t", body: "m\(index)")
                try await Task.sleep(for: .milliseconds(5))
            }
            try await ackAll(stack, "g", "t", try await receive(stack, group, topic))

            let back = try await stack.engine.resetOffsets(group: "g", topic: topic, to: .earliest)
            #expect(back == [QueueOffsetChange(queueId: 0, from: 4, to: 0)])
            let replayed = try await receive(stack, group, topic)
            #expect(replayed.map(Self.body) == ["m0", "m1", "m2", "m3"])
            #expect(replayed.map(\.attempt) == [1, 1, 1, 1], "a replay is a new delivery")
            try await ackAll(stack, "g", "t", replayed)

            let entries = stack.log.queueEntries(QueueID(topic: "t", queueId: 0), from: 0, maxCount: 10)
            let timed = try await stack.engine.resetOffsets(group: "g", topic: topic, to: .timestamp(ms: entries[2].storeTimestampMs))
            #expect(timed == [QueueOffsetChange(queueId: 0, from: 4, to: 2)])
            #expect(try await receive(stack, group, topic).map(Self.body) == ["m2", "m3"])

            try await stack.send("t", body: "unread")
            clock.advance(byMs: 11_000)  // m2 and m3 were not acked: retrying now, no longer in flight
            let ahead = try await stack.engine.resetOffsets(group: "g", topic: topic, to: .latest)
            #expect(ahead == [QueueOffsetChange(queueId: 0, from: 4, to: 5)])
            clock.advance(byMs: 60_000)
            #expect(try await receive(stack, group, topic).isEmpty, "unread skipped, unacked retries dropped")
            try await stack.send("t", body: "fresh")
            #expect(try await receive(stack, group, topic).map(Self.body) == ["fresh"])

            let future = try await stack.engine.resetOffsets(group: "g", topic: topic, to: .timestamp(ms: .max))
            #expect(future == [QueueOffsetChange(queueId: 0, from: 6, to: 6)], "a time after the last message is the end")
        }
    }

    @Test("a message in flight during a reset stays ackable and is not delivered twice meanwhile")
    func inFlightSurvivesReset() async throws {
        try await withStack { stack, clock in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            let group = try await stack.earliestGroup("g")
            for index in 0..<3 { try await stack.send("t", body: "m\(index)") }
            let first = try await receive(stack, group, topic, invisibleMs: 30_000)
            try await ackAll(stack, "g", "t", Array(first.prefix(2)))
            _ = try await stack.engine.resetOffsets(group: "g", topic: topic, to: .earliest)
            let replayed = try await receive(stack, group, topic)
            #expect(replayed.map(Self.body) == ["m0", "m1"], "m2 is still in flight: not handed out a second time")
            try await ackAll(stack, "g", "t", [first[2]])  // the old handle still acks
            try await ackAll(stack, "g", "t", replayed)
            clock.advance(byMs: 60_000)
            #expect(try await receive(stack, group, topic).isEmpty)
            let backlog = try #require(await stack.engine.backlog(group: "g"))
            #expect(backlog.inFlight == 0 && backlog.retrying == 0 && backlog.waiting == 0)
        }
    }

    @Test("a reset of an unknown group is refused")
    func unknownGroup() async throws {
        try await withStack { stack, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            do throws(BrokerError) {
                _ = try await stack.engine.resetOffsets(group: "nobody", topic: topic, to: .earliest)
                Issue.record("an unknown group was reset")
            } catch {
                #expect(error.code == .groupNotFound)
            }
            #expect(stack.engine.group(named: "nobody") == nil, "not created on the way")
        }
    }
}
