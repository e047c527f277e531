import Foundation
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("consumption: recalling DELAY messages (RecallMessage)")
struct RecallTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    /// Stores a DELAY message due `inMs` from the stack's clock and returns its recall handle.
    static func sendDelayed(_ stack: ConsumptionStack, clock: ManualClock, _ text: String, inMs: Int64, topic: String = "later")
        async throws -> String
    {
        let deliveryMs = clock.nowMs + inMs
        let record = MessageRecord(
            topic: topic, queueId: 0, messageId: "ID-" + text, tags: "",
            properties: [(MessageProperty.deliveryTimestampMs, "\(deliveryMs)")], body: ByteBuffer(string: text),
            bornTimestampMs: clock.nowMs, messageType: RecordKind.delay.rawValue)
        let appended = try await stack.log.append(record)
        return stack.engine.recallHandle(topic: topic, appended: appended, queueId: 0, deliveryMs: deliveryMs)
    }

    func receive(_ stack: ConsumptionStack, _ group: ConsumerGroup, _ topic: TopicDefinition) async throws -> [Delivery] {
        try await stack.engine.receive(
            group: group, topic: topic, batch: 32, invisibleMs: 10_000, filter: .all, clientId: "c", firstQueue: 0)
    }

    func expectRefused(_ code: BrokerError.Code, containing text: String, _ body: () async throws(BrokerError) -> String)
        async
    {
        do throws(BrokerError) {
            _ = try await body()
            Issue.record("the recall was accepted")
        } catch {
            #expect(error.code == code && error.message.contains(text), "\(error)")
        }
    }

    @Test("a recalled message is delivered to no group: neither one that scheduled it already nor one that reads it later")
    func recalledIsNeverDelivered() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "later", type: .delay, queueCount: 1)
            let early = try await stack.earliestGroup("early")
            let handle = try await Self.sendDelayed(stack, clock: clock, "cancel-me", inMs: 30_000)
            _ = try await Self.sendDelayed(stack, clock: clock, "keep-me", inMs: 30_000)
            #expect(try await receive(stack, early, topic).isEmpty, "both scheduled for later")
            #expect(try #require(await stack.engine.backlog(group: "early")).scheduled == 2)

            #expect(try await stack.engine.recall(topic: "later", handle: handle) == "ID-cancel-me")
            #expect(try #require(await stack.engine.backlog(group: "early")).scheduled == 1, "dropped at once")
            clock.advance(byMs: 31_000)
            #expect(try await receive(stack, early, topic).map(Self.body) == ["keep-me"])
            let late = try await stack.earliestGroup("late")
            #expect(try await receive(stack, late, topic).map(Self.body) == ["keep-me"], "a later reader skips it too")
            await stack.close()
        }
    }

    @Test("too late, twice, forged, altered or another topic's handle: refused with a clear code and reason")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            _ = try await stack.topics.create(name: "later", type: .delay, queueCount: 1)
            _ = try await stack.topics.create(name: "other", type: .delay, queueCount: 1)
            let due = try await Self.sendDelayed(stack, clock: clock, "due", inMs: 1000)
            let twice = try await Self.sendDelayed(stack, clock: clock, "twice", inMs: 60_000)
            let foreign = try await Self.sendDelayed(stack, clock: clock, "foreign", inMs: 60_000, topic: "other")
            clock.advance(byMs: 1000)
            await expectRefused(.notRecallable, containing: "can no longer be recalled") { () async throws(BrokerError) in
                try await stack.engine.recall(topic: "later", handle: due)
            }
            _ = try await stack.engine.recall(topic: "later", handle: twice)
            await expectRefused(.notRecallable, containing: "recalled already") { () async throws(BrokerError) in
                try await stack.engine.recall(topic: "later", handle: twice)
            }
            await expectRefused(.invalidArgument, containing: "not issued by this broker") { () async throws(BrokerError) in
                try await stack.engine.recall(topic: "later", handle: foreign)
            }
            var altered = Array(twice)
            altered[4] = altered[4] == "A" ? "B" : "A"
            for forged in ["", "bm90LWEtaGFuZGxl", String(altered), String(repeating: "A", count: 300)] {
                await expectRefused(.invalidArgument, containing: "recall") { () async throws(BrokerError) in
                    try await stack.engine.recall(topic: "later", handle: forged)
                }
            }
            await stack.close()
        }
    }

    @Test("a recall survives a restart: still not delivered, and a second recall says it was recalled already")
    func survivesRestart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "later", type: .delay, queueCount: 1)
            let handle = try await Self.sendDelayed(stack, clock: clock, "gone", inMs: 10_000)
            _ = try await stack.engine.recall(topic: "later", handle: handle)
            await stack.close()

            stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            #expect(stack.engine.recalls.count == 1)
            await expectRefused(.notRecallable, containing: "recalled already") { () async throws(BrokerError) in
                try await stack.engine.recall(topic: "later", handle: handle)
            }
            clock.advance(byMs: 20_000)
            let group = try await stack.earliestGroup("g")
            #expect(try await receive(stack, group, topic).isEmpty)
            await stack.close()
        }
    }
}
