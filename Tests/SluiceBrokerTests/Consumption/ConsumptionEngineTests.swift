import Foundation
import NIOCore
@testable import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("consumption: receive, ack, invisibility, retries, dead letters")
struct ConsumptionEngineTests {
    static func body(_ delivery: Delivery) -> String { String(buffer: delivery.record.message.body) }

    func withStack(
        autoCreateGroups: Bool = true, _ body: (ConsumptionStack, ManualClock, String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let stack = try await ConsumptionStack.open(directory, autoCreateGroups: autoCreateGroups, nowMs: { clock.nowMs })
            do {
                try await body(stack, clock, directory)
            } catch {
                await stack.close()
                throw error
            }
            await stack.close()
        }
    }

    func receive(
        _ stack: ConsumptionStack, group: String = "g", topic: TopicDefinition, batch: Int = 32, invisibleMs: Int64 = 10_000,
        filter: TagFilter = .all
    ) async throws -> [Delivery] {
        let consumerGroup = try await stack.earliestGroup(group)
        return try await stack.engine.receive(
            group: consumerGroup, topic: topic, batch: batch, invisibleMs: invisibleMs, filter: filter, clientId: "c1",
            firstQueue: 0)
    }

    @Test("each group gets every message once; within a group receives compete; acked messages are gone")
    func publishSubscribe() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "orders", type: .normal, queueCount: 2)
            for index in 0..<6 { try await stack.send("orders", queue: UInt32(index % 2), body: "m\(index)") }
            let first = try await receive(stack, topic: topic, batch: 4)
            let second = try await receive(stack, topic: topic, batch: 4)
            #expect(first.count == 4 && second.count == 2)
            #expect(Set((first + second).map(Self.body)) == Set((0..<6).map { "m\($0)" }))
            let other = try await receive(stack, group: "audit", topic: topic, batch: 32)
            #expect(other.count == 6, "another group sees every message")
            for delivery in first + second {
                try await stack.engine.ack(
                    group: "g", topic: "orders",
                    receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "orders"))
            }
            #expect(try await receive(stack, topic: topic).isEmpty)
            let backlog = try #require(await stack.engine.backlog(group: "g"))
            #expect(backlog.waiting == 0 && backlog.inFlight == 0 && backlog.retrying == 0)
            let audit = try #require(await stack.engine.backlog(group: "audit"))
            #expect(audit.inFlight == 6)
        }
    }

    @Test("an unacknowledged message comes back after its invisible time, attempt counted; the old handle is stale")
    func redelivery() async throws {
        try await withStack { stack, clock, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "once")
            let first = try await receive(stack, topic: topic, invisibleMs: 3000)
            #expect(first.map(\.attempt) == [1])
            clock.advance(byMs: 2000)
            #expect(try await receive(stack, topic: topic).isEmpty, "still invisible")
            clock.advance(byMs: 1500)
            let second = try await receive(stack, topic: topic, invisibleMs: 3000)
            #expect(second.map(\.attempt) == [2])
            #expect(second.map(Self.body) == ["once"])
            let stale = stack.engine.encode(first[0].handle, group: "g", topic: "t")
            await #expect(throws: BrokerError.self) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: stale)
            }
            let current = stack.engine.encode(second[0].handle, group: "g", topic: "t")
            try await stack.engine.ack(group: "g", topic: "t", receiptHandle: current)
            try await stack.engine.ack(group: "g", topic: "t", receiptHandle: current)  // repeat: fine
            clock.advance(byMs: 60_000)
            #expect(try await receive(stack, topic: topic).isEmpty)
        }
    }

    @Test("redeliverInFlight makes unacknowledged deliveries due now, attempt kept; acked ones stay finished")
    func redeliverInFlightNow() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "acked")
            try await stack.send("t", body: "open")
            let first = try await receive(stack, topic: topic, invisibleMs: 30_000)
            #expect(first.map(Self.body) == ["acked", "open"])
            try await stack.engine.ack(
                group: "g", topic: "t", receiptHandle: stack.engine.encode(first[0].handle, group: "g", topic: "t"))
            #expect(try await receive(stack, topic: topic).isEmpty, "still invisible")
            #expect(try await stack.engine.redeliverInFlight(group: "g", topic: "t") == 1)
            let again = try await receive(stack, topic: topic, invisibleMs: 30_000)
            #expect(again.map(Self.body) == ["open"])
            #expect(again.map(\.attempt) == [2])
            let stale = stack.engine.encode(first[1].handle, group: "g", topic: "t")
            await #expect(throws: BrokerError.self) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: stale)
            }
            #expect(try await stack.engine.redeliverInFlight(group: "nobody", topic: "t") == 0)
        }
    }

    @Test("retries follow the group's backoff ladder even when the invisible time is shorter")
    func backoffLadder() async throws {
        try await withStack { stack, clock, _ in
            _ = try await stack.engine.saveGroup(
                ConsumerGroup(name: "g", retryDelaysMs: [5000, 20_000], createdAtMs: clock.nowMs, consumeFrom: .earliest))
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "x")
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).count == 1)
            clock.advance(byMs: 4000)
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).isEmpty, "first retry waits 5 s")
            clock.advance(byMs: 1000)
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).map(\.attempt) == [2])
            clock.advance(byMs: 19_000)
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).isEmpty, "second retry waits 20 s")
            clock.advance(byMs: 1000)
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).map(\.attempt) == [3])
        }
    }

    @Test("forged, altered and other-group handles are refused as invalid")
    func forgedHandles() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "x")
            let delivery = try #require(try await receive(stack, topic: topic).first)
            let genuine = stack.engine.encode(delivery.handle, group: "g", topic: "t")
            var altered = delivery.handle
            altered.queueOffset += 1
            let forged = ["", "not-a-handle", String(genuine.dropLast(2)) + "AA"]
            for text in forged {
                do throws(BrokerError) {
                    try await stack.engine.ack(group: "g", topic: "t", receiptHandle: text)
                    Issue.record("'\(text)' was accepted")
                } catch {
                    #expect(error.code == .invalidReceiptHandle)
                }
            }
            _ = try await stack.earliestGroup("other")
            do throws(BrokerError) {
                try await stack.engine.ack(group: "other", topic: "t", receiptHandle: genuine)
                Issue.record("a handle of group g was accepted for group other")
            } catch {
                #expect(error.code == .invalidReceiptHandle)
            }
            try await stack.engine.ack(group: "g", topic: "t", receiptHandle: genuine)
        }
    }

    @Test("ChangeInvisibleDuration extends the invisibility and returns the handle to use from now on")
    func changeInvisibleDuration() async throws {
        try await withStack { stack, clock, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "x")
            let delivery = try #require(try await receive(stack, topic: topic, invisibleMs: 2000).first)
            let old = stack.engine.encode(delivery.handle, group: "g", topic: "t")
            let renewed = try await stack.engine.changeInvisibleDuration(
                group: "g", topic: "t", receiptHandle: old, invisibleMs: 30_000)
            #expect(renewed != old)
            clock.advance(byMs: 10_000)
            #expect(try await receive(stack, topic: topic).isEmpty, "extended past the first 2 s")
            do throws(BrokerError) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: old)
                Issue.record("the replaced handle still worked")
            } catch {
                #expect(error.code == .staleReceiptHandle)
            }
            try await stack.engine.ack(group: "g", topic: "t", receiptHandle: renewed)
        }
    }

    @Test("after the last attempt a message goes to %DLQ%<group>, once, with its origin; the group moves on")
    func deadLetters() async throws {
        try await withStack { stack, clock, _ in
            _ = try await stack.engine.saveGroup(
                ConsumerGroup(name: "g", maxDeliveryAttempts: 2, retryDelaysMs: [1000], createdAtMs: clock.nowMs, consumeFrom: .earliest))
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "poison", messageId: "POISON-1")
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).map(\.attempt) == [1])
            clock.advance(byMs: 1000)
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).map(\.attempt) == [2])
            clock.advance(byMs: 1000)
            await stack.engine.sweep()
            await stack.engine.sweep()
            #expect(try await receive(stack, topic: topic).isEmpty)
            let dlqTopic = try #require(stack.engine.deadLetterTopic(named: "%DLQ%g"))
            let dead = try await receive(stack, group: "ops", topic: dlqTopic)
            #expect(dead.map(Self.body) == ["poison"])
            #expect(dead.first?.record.messageId == "POISON-1")
            #expect(dead.first?.record.property(MessageProperty.originalTopic) == "t")
            #expect(dead.first?.record.property(MessageProperty.deliveryAttempts) == "2")
            let backlog = try #require(await stack.engine.backlog(group: "g"))
            #expect(backlog.deadLettered == 1 && backlog.retrying == 0 && backlog.inFlight == 0)
        }
    }

    @Test("re-driving dead letters delivers them to their group again, once, and to no other group")
    func redrive() async throws {
        try await withStack { stack, clock, _ in
            _ = try await stack.engine.saveGroup(
                ConsumerGroup(name: "g", maxDeliveryAttempts: 1, retryDelaysMs: [1000], createdAtMs: clock.nowMs, consumeFrom: .earliest))
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "poison")
            try await stack.send("t", body: "fine")
            let first = try await receive(stack, topic: topic, invisibleMs: 1000)
            let other = try await receive(stack, group: "other", topic: topic)
            #expect(other.count == 2)
            for delivery in first where Self.body(delivery) == "fine" {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "t"))
            }
            clock.advance(byMs: 1000)
            await stack.engine.sweep()
            #expect(try #require(await stack.engine.backlog(group: "g")).deadLettered == 1)
            #expect(try await stack.engine.redriveDeadLetters(group: "g") == 1)
            #expect(try #require(await stack.engine.backlog(group: "g")).deadLettered == 0)
            let again = try await receive(stack, topic: topic)
            #expect(again.map(Self.body) == ["poison"] && again.map(\.attempt) == [1])
            #expect(try await stack.engine.redriveDeadLetters(group: "g") == 0, "each dead letter is re-driven once")
            clock.advance(byMs: 60_000)
            #expect(try await receive(stack, group: "other", topic: topic).count == 2, "the other group is untouched")
        }
    }

    @Test("auto-renewed deliveries stay invisible while their client lives, and come back after it is gone")
    func autoRenew() async throws {
        try await withStack { stack, clock, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "long-job")
            try await stack.send("t", body: "orphan")
            let group = try await stack.earliestGroup("push")
            let first = try await stack.engine.receive(
                group: group, topic: topic, batch: 1, invisibleMs: 60_000, filter: .all, clientId: "alive", firstQueue: 0,
                autoRenew: true)
            let second = try await stack.engine.receive(
                group: group, topic: topic, batch: 1, invisibleMs: 60_000, filter: .all, clientId: "gone", firstQueue: 0,
                autoRenew: true)
            #expect(first.map(Self.body) == ["long-job"] && second.map(Self.body) == ["orphan"])
            let alive: @Sendable (String) -> Bool = { $0 == "alive" }
            for _ in 0..<20 {  // 200 s of a push consumer's listener still working
                clock.advance(byMs: 10_000)
                await stack.engine.renewAutoRenewed(isAlive: alive)
            }
            let back = try await stack.engine.receive(
                group: group, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all, clientId: "other", firstQueue: 0)
            #expect(back.map(Self.body) == ["orphan"], "only the gone client's message came back")
            // The renewed handle still acks.
            try await stack.engine.ack(
                group: "push", topic: "t", receiptHandle: stack.engine.encode(first[0].handle, group: "push", topic: "t"))
        }
    }

    @Test("a group reading its own dead-letter topic does not copy exhausted messages into it again")
    func ownDeadLetters() async throws {
        try await withStack { stack, clock, _ in
            _ = try await stack.engine.saveGroup(
                ConsumerGroup(name: "g", maxDeliveryAttempts: 1, retryDelaysMs: [1000], createdAtMs: clock.nowMs, consumeFrom: .earliest))
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "poison")
            #expect(try await receive(stack, topic: topic, invisibleMs: 1000).count == 1)
            clock.advance(byMs: 1000)
            await stack.engine.sweep()
            let dlq = try #require(stack.engine.deadLetterTopic(named: "%DLQ%g"))
            #expect(try await receive(stack, topic: dlq, invisibleMs: 1000).count == 1)
            clock.advance(byMs: 1000)
            await stack.engine.sweep()
            #expect(try #require(await stack.engine.backlog(group: "g")).deadLettered == 1, "no second copy")
            #expect(try await receive(stack, topic: dlq).isEmpty, "the group moved on")
        }
    }

    @Test("a consumer can forward a message to the dead-letter queue")
    func forwardToDeadLetter() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "give-up")
            let delivery = try #require(try await receive(stack, topic: topic).first)
            try await stack.engine.forwardToDeadLetter(
                group: "g", topic: "t", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "t"))
            let backlog = try #require(await stack.engine.backlog(group: "g"))
            #expect(backlog.deadLettered == 1 && backlog.inFlight == 0)
        }
    }

    @Test("FIFO: one message per message group at a time, in send order; groups proceed in parallel")
    func fifoOrder() async throws {
        try await withStack { stack, clock, _ in
            let topic = try await stack.topics.create(name: "f", type: .fifo, queueCount: 1)
            for index in 0..<3 {
                for line in ["A", "B"] {
                    try await stack.send(
                        "f", body: "\(line)\(index)", properties: [(MessageProperty.messageGroup, line)], kind: .fifo)
                }
            }
            var batch = try await receive(stack, topic: topic, invisibleMs: 5000)
            #expect(batch.map(Self.body) == ["A0", "B0"], "only the head of each message group")
            // A0 is not acked: after its invisible time it comes back before A1.
            let b0 = try #require(batch.last)
            try await stack.engine.ack(group: "g", topic: "f", receiptHandle: stack.engine.encode(b0.handle, group: "g", topic: "f"))
            batch = try await receive(stack, topic: topic, invisibleMs: 60_000)
            #expect(batch.map(Self.body) == ["B1"])
            clock.advance(byMs: 5000)
            batch += try await receive(stack, topic: topic, invisibleMs: 5000)
            #expect(batch.map(Self.body) == ["B1", "A0"])
            #expect(batch.last?.attempt == 2)
            for delivery in batch {
                try await stack.engine.ack(
                    group: "g", topic: "f", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "f"))
            }
            batch = try await receive(stack, topic: topic)
            #expect(Set(batch.map(Self.body)) == ["A1", "B2"])
        }
    }

    @Test("DELAY messages are not delivered before their time, and are after it")
    func delay() async throws {
        try await withStack { stack, clock, _ in
            let topic = try await stack.topics.create(name: "d", type: .delay, queueCount: 1)
            try await stack.send(
                "d", body: "later", properties: [(MessageProperty.deliveryTimestampMs, "\(clock.nowMs + 60_000)")],
                kind: .delay)
            try await stack.send(
                "d", body: "now", properties: [(MessageProperty.deliveryTimestampMs, "\(clock.nowMs - 1)")], kind: .delay)
            let now = try await receive(stack, topic: topic)
            #expect(now.map(Self.body) == ["now"])
            for delivery in now {
                try await stack.engine.ack(group: "g", topic: "d", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "d"))
            }
            let scheduled = try #require(await stack.engine.backlog(group: "g"))
            #expect(scheduled.scheduled == 1)
            clock.advance(byMs: 59_000)
            #expect(try await receive(stack, topic: topic).isEmpty)
            clock.advance(byMs: 1000)
            #expect(try await receive(stack, topic: topic).map(Self.body) == ["later"])
        }
    }

    @Test("tag filters deliver matching messages only")
    func tagFilter() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            for tag in ["a", "b", "c", "", "a"] { try await stack.send("t", body: "tag-\(tag)", tag: tag) }
            let filter = try TagFilter(expression: "a || c")
            #expect(try await receive(stack, topic: topic, filter: filter).map(Self.body) == ["tag-a", "tag-c", "tag-a"])
            #expect(throws: BrokerError.self) { try TagFilter(expression: "a || ") }
        }
    }

    @Test("after a restart, acknowledged messages stay acknowledged and unacknowledged ones come back")
    func restart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            for index in 0..<4 { try await stack.send("t", body: "m\(index)") }
            let group = try await stack.earliestGroup("g")
            let got = try await stack.engine.receive(
                group: group, topic: topic, batch: 3, invisibleMs: 5000, filter: .all, clientId: "c", firstQueue: 0)
            for delivery in got.prefix(2) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "t"))
            }
            let inFlight = stack.engine.encode(got[2].handle, group: "g", topic: "t")
            await stack.close()

            stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let reopened = try await stack.earliestGroup("g")
            var after = try await stack.engine.receive(
                group: reopened, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all, clientId: "c", firstQueue: 0)
            #expect(after.map(Self.body) == ["m3"], "m2 is still invisible, m0 and m1 were acked")
            clock.advance(byMs: 5000)
            after = try await stack.engine.receive(
                group: reopened, topic: topic, batch: 32, invisibleMs: 5000, filter: .all, clientId: "c", firstQueue: 0)
            #expect(after.map(Self.body) == ["m2"] && after.map(\.attempt) == [2])
            do throws(BrokerError) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: inFlight)
                Issue.record("a handle from before the redelivery still worked")
            } catch {
                #expect(error.code == .staleReceiptHandle, "the signing key survived the restart")
            }
            await stack.close()
        }
    }

    @Test("FIFO order and DELAY timers survive a restart")
    func fifoAndDelayRestart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            var stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            let fifo = try await stack.topics.create(name: "f", type: .fifo, queueCount: 1)
            let delay = try await stack.topics.create(name: "d", type: .delay, queueCount: 1)
            for index in 0..<3 {
                try await stack.send("f", body: "A\(index)", properties: [(MessageProperty.messageGroup, "A")], kind: .fifo)
            }
            try await stack.send(
                "d", body: "later", properties: [(MessageProperty.deliveryTimestampMs, "\(clock.nowMs + 30_000)")], kind: .delay)
            let group = try await stack.earliestGroup("g")
            func receive(_ topic: TopicDefinition) async throws -> [Delivery] {
                try await stack.engine.receive(
                    group: group, topic: topic, batch: 32, invisibleMs: 5000, filter: .all, clientId: "c", firstQueue: 0)
            }
            #expect(try await receive(fifo).map(Self.body) == ["A0"])
            #expect(try await receive(delay).isEmpty)
            await stack.close()

            stack = try await ConsumptionStack.open(directory, nowMs: { clock.nowMs })
            #expect(try await receive(fifo).isEmpty, "A0 is still in flight: A1 waits")
            #expect(try await receive(delay).isEmpty, "the timer survived: not before its time")
            clock.advance(byMs: 5000)
            let again = try await receive(fifo)
            #expect(again.map(Self.body) == ["A0"] && again.map(\.attempt) == [2])
            try await stack.engine.ack(group: "g", topic: "f", receiptHandle: stack.engine.encode(again[0].handle, group: "g", topic: "f"))
            #expect(try await receive(fifo).map(Self.body) == ["A1"])
            clock.advance(byMs: 25_000)
            #expect(try await receive(delay).map(Self.body) == ["later"])
            await stack.close()
        }
    }

    @Test("when a change cannot be stored, receives and acks are refused from then on, not half-done")
    func storageFailureLatches() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            try await stack.send("t", body: "x")
            try await stack.send("t", body: "y")
            let delivered = try await receive(stack, topic: topic, batch: 1)
            let group = try await stack.earliestGroup("g")
            await stack.engine.table.close()  // every later write fails
            do throws(BrokerError) {
                _ = try await stack.engine.receive(
                    group: group, topic: topic, batch: 32, invisibleMs: 10_000, filter: .all, clientId: "c", firstQueue: 0)
                Issue.record("a receive succeeded although its claim could not be stored")
            } catch {
                #expect(error.code == .storageFailure && error.message.contains("refused until the broker restarts"))
            }
            do throws(BrokerError) {
                try await stack.engine.ack(
                    group: "g", topic: "t", receiptHandle: stack.engine.encode(delivered[0].handle, group: "g", topic: "t"))
                Issue.record("an ack succeeded after the engine failed")
            } catch {
                #expect(error.code == .storageFailure)
            }
        }
    }

    @Test("a broker without auto-created groups refuses unknown groups")
    func noAutoCreate() async throws {
        try await withStack(autoCreateGroups: false) { stack, _, _ in
            do throws(BrokerError) {
                _ = try await stack.engine.groupForConsumer("nobody")
                Issue.record("an unknown group was accepted")
            } catch {
                #expect(error.code == .groupNotFound)
            }
        }
    }

    @Test("resetting an offset replays from there")
    func resetOffset() async throws {
        try await withStack { stack, _, _ in
            let topic = try await stack.topics.create(name: "t", type: .normal, queueCount: 1)
            for index in 0..<3 { try await stack.send("t", body: "m\(index)") }
            let group = try await stack.earliestGroup("g")
            for delivery in try await receive(stack, topic: topic) {
                try await stack.engine.ack(group: "g", topic: "t", receiptHandle: stack.engine.encode(delivery.handle, group: "g", topic: "t"))
            }
            #expect(try await stack.engine.committedOffset(group: group, topic: topic, queueId: 0) == 3)
            try await stack.engine.resetOffset(group: group, topic: topic, queueId: 0, to: 1)
            #expect(try await receive(stack, topic: topic).map(Self.body) == ["m1", "m2"])
        }
    }
}
