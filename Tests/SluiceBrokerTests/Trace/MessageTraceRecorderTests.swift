import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Synchronization
import Testing

/// The trace recorder and reader over a real commit log in a temp folder.
@Suite("message trace recorder and reader")
struct MessageTraceRecorderTests {
    static let logger: Logger = {
        var logger = Logger(label: "trace-test")
        logger.logLevel = .critical
        return logger
    }()

    static func configuration(_ directory: String) -> CommitLogConfiguration {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = 64 * 1024
        configuration.queueIndexEntriesPerFile = 4096
        configuration.keyIndexEntriesPerFile = 16384
        return configuration
    }

    static func withLog(
        _ configure: (inout CommitLogConfiguration) -> Void = { _ in }, _ body: (CommitLog) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory(prefix: "sluice-trace") { directory in
            var configuration = Self.configuration(directory)
            configure(&configuration)
            let log = try await CommitLog.open(configuration, logger: logger)
            do {
                try await body(log)
            } catch {
                await log.close()
                throw error
            }
            await log.close()
        }
    }

    @Test("recorded events are stored and read back in recording order with their details")
    func roundTrip() async throws {
        try await Self.withLog { log in
            let recorder = MessageTraceRecorder(log: log, logger: Self.logger)
            recorder.record(.received, messageId: "M1", details: ["topic": "orders", "type": "normal", "clientId": "c-1", "bornHost": "10.0.0.1"])
            recorder.delivered(messageId: "M1", group: "billing", clientId: "c-2", attempt: 1)
            recorder.record(.received, messageId: "OTHER", details: ["topic": "orders", "type": "normal", "clientId": "c-1"])
            recorder.delivered(messageId: "M1", group: "billing", clientId: "c-3", attempt: 2)
            recorder.invisibilityChanged(messageId: "M1", group: "billing", clientId: "c-3", invisibleUntilMs: 5)
            recorder.acked(messageId: "M1", group: "billing", clientId: "c-3", attempt: 2)
            recorder.deadLettered(messageId: "M1", group: "audit", dlqTopic: "%DLQ%audit", attempts: 16)
            await recorder.drain()
            #expect(recorder.statistics == .init(stored: 7, droppedBufferFull: 0, failedToStore: 0))

            let events = MessageTraceReader(log: log).events(messageId: "M1")
            #expect(events.map(\.kind) == [
                .received, .delivered, .delivered, .invisibilityChanged, .acked, .deadLettered,
            ])
            #expect(events.allSatisfy { $0.messageId == "M1" })
            #expect(events[0].details == ["topic": "orders", "type": "normal", "clientId": "c-1", "bornHost": "10.0.0.1"])
            #expect(events[2].details == ["group": "billing", "clientId": "c-3", "attempt": "2"])
            #expect(events[5].details == ["group": "audit", "dlqTopic": "%DLQ%audit", "attempt": "16"])
            #expect(MessageTraceReader(log: log).events(messageId: "OTHER").map(\.kind) == [.received])
            #expect(MessageTraceReader(log: log).events(messageId: "UNKNOWN").isEmpty)
        }
    }

    @Test("a clock that steps back does not reorder events: time never decreases within a process")
    func clockSteppingBack() async throws {
        try await Self.withLog { log in
            let times = Mutex<[Int64]>([5000, 4000, 3000, 6000])
            let recorder = MessageTraceRecorder(
                log: log, logger: Self.logger, nowMs: { times.withLock { $0.removeFirst() } })
            for attempt in 1...4 {
                recorder.delivered(messageId: "M", group: "g", clientId: "c", attempt: attempt)
            }
            await recorder.drain()
            let events = MessageTraceReader(log: log).events(messageId: "M")
            #expect(events.map { $0.details["attempt"] } == ["1", "2", "3", "4"])
            #expect(events.map(\.atMs) == [5000, 5000, 5000, 6000])
        }
    }

    @Test("many events in many batches keep their order; the reader returns at most the newest 1000")
    func manyEvents() async throws {
        try await Self.withLog({ $0.segmentSizeBytes = 1 << 20 }) { log in
            var configuration = MessageTraceRecorder.Configuration()
            configuration.maximumBatch = 64
            let recorder = MessageTraceRecorder(log: log, configuration: configuration, logger: Self.logger)
            for attempt in 1...1200 {
                recorder.delivered(messageId: "BUSY", group: "g", clientId: "c", attempt: attempt)
            }
            await recorder.drain()
            #expect(recorder.statistics.stored == 1200)
            let events = MessageTraceReader(log: log).events(messageId: "BUSY")
            #expect(events.count == MessageTraceReader.maximumEvents)
            #expect(events.map { Int($0.details["attempt"] ?? "") } == (201...1200).map { $0 })
        }
    }

    @Test("a message with many trace events is still found by its id (trace keys are prefixed)")
    func traceDoesNotCrowdOutTheMessage() async throws {
        try await Self.withLog({ $0.segmentSizeBytes = 1 << 20 }) { log in
            _ = try await log.append(
                MessageRecord(topic: "orders", queueId: 0, messageId: "LOUD", body: ByteBuffer(string: "x"), bornTimestampMs: 1))
            let recorder = MessageTraceRecorder(log: log, logger: Self.logger)
            for attempt in 1...300 { recorder.delivered(messageId: "LOUD", group: "g", clientId: "c", attempt: attempt) }
            await recorder.drain()
            #expect(log.lookup(messageId: "LOUD", limit: 16).map(\.topic) == ["orders"])
            #expect(log.lookup(key: "LOUD").isEmpty)
        }
    }

    @Test("when the buffer is full, new events are dropped and counted, never blocking the caller")
    func bufferFull() async throws {
        try await Self.withLog { log in
            var configuration = MessageTraceRecorder.Configuration()
            configuration.bufferCapacity = 3
            let recorder = MessageTraceRecorder(log: log, configuration: configuration, logger: Self.logger)
            for attempt in 1...5 { recorder.delivered(messageId: "M", group: "g", clientId: "c", attempt: attempt) }
            #expect(recorder.statistics.droppedBufferFull == 2)
            await recorder.drain()
            #expect(recorder.statistics.stored == 3)
            #expect(MessageTraceReader(log: log).events(messageId: "M").map { $0.details["attempt"] } == ["1", "2", "3"])
        }
    }

    @Test("an event the log refuses is counted as failed; recording and draining never throw")
    func appendFailure() async throws {
        try await Self.withLog { log in
            let recorder = MessageTraceRecorder(log: log, logger: Self.logger)
            await log.close()
            recorder.acked(messageId: "M", group: "g", clientId: "c", attempt: 1)
            await recorder.drain()
            #expect(recorder.statistics == .init(stored: 0, droppedBufferFull: 0, failedToStore: 1))
        }
    }

    @Test("run() stores events as they come and, when cancelled, stores what is still buffered")
    func runAndCancel() async throws {
        try await Self.withLog { log in
            var configuration = MessageTraceRecorder.Configuration()
            configuration.linger = .seconds(3600)
            let recorder = MessageTraceRecorder(log: log, configuration: configuration, logger: Self.logger)
            let service = Task { try await recorder.run() }
            recorder.record(.received, messageId: "LATE", details: ["topic": "t", "type": "normal", "clientId": "c"])
            // Lingering for an hour: nothing is stored until the task is cancelled.
            #expect(recorder.statistics.stored == 0)
            service.cancel()
            try await service.value
            #expect(recorder.statistics.stored == 1)
            #expect(MessageTraceReader(log: log).events(messageId: "LATE").count == 1)
        }
    }

    @Test("trace events are bounded by log retention: deleted with their segment")
    func retention() async throws {
        try await Self.withLog({
            $0.retention.maxAge = .zero
            $0.retention.maxDiskUsedFraction = 1.0
        }) { log in
            let recorder = MessageTraceRecorder(log: log, logger: Self.logger)
            recorder.record(.received, messageId: "OLD", details: ["topic": "t", "type": "normal", "clientId": "c"])
            await recorder.drain()
            // Enough later events to fill the first 64 KiB segment and roll to others.
            for attempt in 1...1500 { recorder.delivered(messageId: "NEW", group: "g", clientId: "c", attempt: attempt) }
            await recorder.drain()
            #expect(MessageTraceReader(log: log).events(messageId: "OLD").count == 1)

            let report = await log.enforceRetention()
            #expect(!report.deletedSegments.isEmpty)
            #expect(MessageTraceReader(log: log).events(messageId: "OLD").isEmpty)
            #expect(MessageTraceReader(log: log).events(messageId: "NEW").last?.details["attempt"] == "1500")
        }
    }

    @Test("the coordinator records half-stored, committed and rolled-back with source, actor and reason")
    func coordinatorEvents() async throws {
        try await withTemporaryDirectory(prefix: "sluice-trace-txn") { directory in
            let stack = try await TransactionStack.open(directory, traced: true)
            let trace = try #require(stack.trace)
            func half(_ id: String) -> HalfMessage {
                HalfMessage(
                    message: MessageRecord(
                        topic: "payments", queueId: 3, messageId: id, body: ByteBuffer(string: id), bornTimestampMs: 1),
                    producerGroup: "pg", clientId: "producer-1")
            }
            let committed = try await stack.coordinator.prepare(half("C"))
            let rolledBack = try await stack.coordinator.prepare(half("R"))
            _ = try await stack.coordinator.end(
                transactionId: committed.transactionId, resolution: .commit, source: .producer, actor: "producer-1")
            _ = try await stack.coordinator.end(
                transactionId: rolledBack.transactionId, resolution: .rollback, source: .operator, actor: "carol",
                reason: "customer cancelled")
            // A repeated decision changes nothing and records nothing.
            _ = try await stack.coordinator.end(
                transactionId: committed.transactionId, resolution: .commit, source: .check, actor: "producer-1")
            await trace.drain()

            let reader = MessageTraceReader(log: stack.log)
            let commitEvents = reader.events(messageId: "C")
            // "received" is read from the half message itself.
            #expect(commitEvents.map(\.kind) == [.received, .halfStored, .committed])
            #expect(commitEvents[0].details == ["topic": "payments", "type": "transaction", "clientId": "producer-1"])
            #expect(commitEvents[1].details == ["transactionId": committed.transactionId, "topic": "payments", "clientId": "producer-1"])
            #expect(commitEvents[2].details["source"] == "producer")
            #expect(commitEvents[2].details["actor"] == "producer-1")
            #expect(commitEvents[2].details["topic"] == "payments")
            #expect(commitEvents[2].details["queueId"] == "3")
            #expect(commitEvents[2].details["queueOffset"] == "0")
            let rollbackEvents = reader.events(messageId: "R")
            #expect(rollbackEvents.map(\.kind) == [.received, .halfStored, .rolledBack])
            #expect(rollbackEvents[2].details == [
                "transactionId": rolledBack.transactionId, "source": "operator", "actor": "carol",
                "reason": "customer cancelled",
            ])
            try? await stack.store.close()
            await stack.log.close()
        }
    }

    @Test("a log written when transactions still recorded their own trace events shows each event once")
    func olderTransactionEventsNotDoubled() async throws {
        try await withTemporaryDirectory(prefix: "sluice-trace-txn-old") { directory in
            let stack = try await TransactionStack.open(directory, traced: true)
            let trace = try #require(stack.trace)
            let prepared = try await stack.coordinator.prepare(
                HalfMessage(
                    message: MessageRecord(
                        topic: "payments", queueId: 1, messageId: "OLD", body: ByteBuffer(string: "x"), bornTimestampMs: 1),
                    producerGroup: "pg", clientId: "producer-1"))
            _ = try await stack.coordinator.end(
                transactionId: prepared.transactionId, resolution: .commit, source: .producer, actor: "producer-1")
            // What an earlier broker appended beside the half and the commit copy.
            trace.record(
                .halfStored, messageId: "OLD",
                details: ["transactionId": prepared.transactionId, "topic": "payments", "clientId": "producer-1"])
            trace.record(.committed, messageId: "OLD", details: ["transactionId": prepared.transactionId, "source": "producer"])
            await trace.drain()
            let events = MessageTraceReader(log: stack.log).events(messageId: "OLD")
            #expect(events.map(\.kind) == [.received, .halfStored, .committed])
            try? await stack.store.close()
            await stack.log.close()
        }
    }
}
