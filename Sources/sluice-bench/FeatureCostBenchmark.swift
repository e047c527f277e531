import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// What the newest client features cost on the consume side (issue 13), through the real engine
/// with SQLite-backed claims and acks, against the plain case in the same run:
/// - a PRIORITY topic drained against a NORMAL topic of the same size (the look-ahead window's
///   extra pending-row write and sort), and how well the order followed the priorities;
/// - RecallMessage: the time and CPU per recall of a DELAY message, and what a group pays to skip
///   recalled messages when their time comes;
/// - reset-offset of a group with messages in flight, to earliest, to a time and to latest.
struct FeatureCostBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Consume-side cost of priority topics, RecallMessage and reset-offset against the plain case.")

    @Option(help: "Folder for the benchmark's files (removed afterwards).") var dir: String = "./bench-data"
    @Option(help: "Messages per case.") var messages: Int = 100_000
    @Option(help: "Concurrent consumers.") var consumers: Int = 4
    @Option(help: "Message body bytes.") var bodySize: Int = 100

    func run() async throws {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var configuration = CommitLogConfiguration(directory: dir + "/data")
        configuration.segmentSizeBytes = 512 << 20
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let path = dir + "/data/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: WallClock.nowMs())
        let topics = try await SQLiteTopicRegistry.open(path: path, logger: logger)
        let engine = try await ConsumptionEngine.open(path: path, log: log, topics: topics, logger: logger)
        let timer = Task { await engine.waiters.run(tick: .milliseconds(20)) }
        defer { timer.cancel() }
        print("feature costs: \(messages) messages per case, \(bodySize)-byte bodies, \(consumers) consumers (batch 32, one ack per message), sync flush")
        print("CPU is this whole process (getrusage), per message delivered or per call")

        let plain = try await topics.create(name: "plain", type: .normal, queueCount: 8)
        let ranked = try await topics.create(name: "ranked", type: .priority, queueCount: 8)
        try await fill(log, topic: plain.name, kind: .normal) { _ in [] }
        try await fill(log, topic: ranked.name, kind: .priority) { index in
            [(MessageProperty.priority, "\(Self.priority(of: index))")]
        }
        let plainDrain = try await drain(engine, group: "plain-drain", topic: plain)
        let rankedDrain = try await drain(engine, group: "ranked-drain", topic: ranked)
        print("")
        print(pad("drain", 26) + pad("msgs/s", 10) + pad("CPU µs/msg", 12) + pad("delivered", 11) + "order")
        print(pad("normal topic", 26) + pad(String(format: "%.0f", plainDrain.rate), 10)
            + pad(String(format: "%.1f", plainDrain.cpuMicrosPerMessage), 12) + pad("\(plainDrain.delivered)", 11) + "-")
        print(pad("priority topic (0-9)", 26) + pad(String(format: "%.0f", rankedDrain.rate), 10)
            + pad(String(format: "%.1f", rankedDrain.cpuMicrosPerMessage), 12) + pad("\(rankedDrain.delivered)", 11)
            + rankedDrain.orderSummary)
        print(String(format: "ratio priority/normal: drain %.2f, CPU per message %.2f",
                     rankedDrain.rate / plainDrain.rate, rankedDrain.cpuMicrosPerMessage / plainDrain.cpuMicrosPerMessage))

        try await recallCase(engine, log: log, topics: topics)
        try await resetCase(engine, log: log, topics: topics)

        await engine.close()
        await topics.close()
        try? await store.close()
        await log.close()
    }

    /// Priorities cycle 0…9 in a stride that mixes them within every queue.
    static func priority(of index: Int) -> Int { (index * 7) % 10 }

    // MARK: priority

    struct DrainResult {
        var rate: Double
        var cpuMicrosPerMessage: Double
        var delivered: Int
        /// Mean priority of each fifth of the deliveries, in delivery order.
        var meanPriorityByFifth: [Double]

        var orderSummary: String {
            meanPriorityByFifth.isEmpty
                ? "-" : "mean priority by fifth of the drain: " + meanPriorityByFifth.map { String(format: "%.1f", $0) }.joined(separator: " ")
        }
    }

    private func fill(
        _ log: CommitLog, topic: String, kind: RecordKind, deliveryMs: Int64? = nil,
        properties: @escaping @Sendable (Int) -> [(String, String)]
    ) async throws {
        _ = try await append(log, topic: topic, kind: kind, properties: properties)
    }

    /// Appends `messages` records with 64 concurrent appenders; returns each one's result.
    private func append(
        _ log: CommitLog, topic: String, kind: RecordKind, properties: @escaping @Sendable (Int) -> [(String, String)]
    ) async throws -> [(index: Int, result: AppendResult)] {
        let body = ByteBuffer(repeating: 0x62, count: bodySize)
        let appenders = 64
        let count = messages
        return try await withThrowingTaskGroup(of: [(index: Int, result: AppendResult)].self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var results: [(index: Int, result: AppendResult)] = []
                    var index = appender
                    while index < count {
                        let record = MessageRecord(
                            topic: topic, queueId: UInt32(index % 8), tags: "t", properties: properties(index), body: body,
                            bornTimestampMs: WallClock.nowMs(), messageType: kind.rawValue)
                        results.append((index, try await log.append(record)))
                        index += appenders
                    }
                    return results
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    private func drain(_ engine: ConsumptionEngine, group name: String, topic: TopicDefinition) async throws -> DrainResult {
        let group = try await engine.saveGroup(ConsumerGroup(name: name, createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
        let started = ContinuousClock.now
        let cpuBefore = processCPUMicros()
        let count = messages
        let perConsumer = (0..<consumers).map { consumer in count / consumers + (consumer < count % consumers ? 1 : 0) }
        let received = try await withThrowingTaskGroup(of: [(ContinuousClock.Instant, Int)].self) { tasks in
            for consumer in 0..<consumers {
                tasks.addTask {
                    var seen: [(ContinuousClock.Instant, Int)] = []
                    var empty = 0
                    while seen.count < perConsumer[consumer], empty < 20 {
                        let batch = try await engine.receive(
                            group: group, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all,
                            clientId: "c\(consumer)", firstQueue: UInt32(consumer % 8))
                        if batch.isEmpty {
                            empty += 1
                            try await Task.sleep(for: .milliseconds(5))
                            continue
                        }
                        let now = ContinuousClock.now
                        for delivery in batch {
                            let priority = delivery.record.message.properties.first { $0.0 == MessageProperty.priority }
                                .flatMap { Int($0.1) } ?? -1
                            seen.append((now, priority))
                            try await engine.ack(
                                group: name, topic: topic.name,
                                receiptHandle: engine.encode(delivery.handle, group: name, topic: topic.name))
                        }
                    }
                    return seen
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        let seconds = (ContinuousClock.now - started).seconds
        let cpu = processCPUMicros() - cpuBefore
        let ordered = received.sorted { $0.0 < $1.0 }.map(\.1)
        var fifths: [Double] = []
        if topic.messageType == .priority, ordered.count >= 5 {
            let size = ordered.count / 5
            for fifth in 0..<5 {
                let slice = ordered[(fifth * size)..<((fifth + 1) * size)]
                fifths.append(Double(slice.reduce(0, +)) / Double(slice.count))
            }
        }
        return DrainResult(
            rate: Double(received.count) / seconds, cpuMicrosPerMessage: cpu / Double(max(1, received.count)),
            delivered: received.count, meanPriorityByFifth: fifths)
    }

    // MARK: recall

    private func recallCase(_ engine: ConsumptionEngine, log: CommitLog, topics: SQLiteTopicRegistry) async throws {
        let delayed = try await topics.create(name: "delayed", type: .delay, queueCount: 8)
        // Due in 3 s: long enough to recall half of them first, short enough to then watch a
        // group skip the recalled ones when their time comes.
        let deliveryMs = WallClock.nowMs() + 3_000 + Int64(messages / 20)
        let appended = try await append(log, topic: delayed.name, kind: .delay) { _ in
            [(MessageProperty.deliveryTimestampMs, "\(deliveryMs)")]
        }
        let group = try await engine.saveGroup(ConsumerGroup(name: "delay-readers", createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
        // The group schedules every message first (each becomes a pending row due at its time),
        // so a recall also has to find and drop it in the group.
        _ = try await engine.receive(
            group: group, topic: delayed, batch: 32, invisibleMs: 60_000, filter: .all, clientId: "d", firstQueue: 0)
        let toRecall = appended.filter { $0.index % 2 == 0 }
        let handles = toRecall.map {
            engine.recallHandle(topic: delayed.name, appended: $0.result, queueId: UInt32($0.index % 8), deliveryMs: deliveryMs)
        }
        let started = ContinuousClock.now
        let cpuBefore = processCPUMicros()
        let recalled = try await withThrowingTaskGroup(of: Int.self) { tasks in
            let lanes = 16
            for lane in 0..<lanes {
                tasks.addTask {
                    var done = 0
                    for index in stride(from: lane, to: handles.count, by: lanes) {
                        _ = try await engine.recall(topic: delayed.name, handle: handles[index])
                        done += 1
                    }
                    return done
                }
            }
            return try await tasks.reduce(0, +)
        }
        let recallSeconds = (ContinuousClock.now - started).seconds
        let recallCPU = (processCPUMicros() - cpuBefore) / Double(max(1, recalled))
        let secondsLeft = Double(deliveryMs - WallClock.nowMs()) / 1000
        // When the time comes the group gets exactly the other half.
        try await Task.sleep(for: .milliseconds(max(0, deliveryMs - WallClock.nowMs()) + 200))
        let drainStart = ContinuousClock.now
        let drainCPUBefore = processCPUMicros()
        var delivered = 0
        var empty = 0
        while empty < 10 {
            let batch = try await engine.receive(
                group: group, topic: delayed, batch: 32, invisibleMs: 60_000, filter: .all, clientId: "d", firstQueue: 0)
            if batch.isEmpty { empty += 1; try await Task.sleep(for: .milliseconds(20)); continue }
            for delivery in batch {
                try await engine.ack(
                    group: group.name, topic: delayed.name,
                    receiptHandle: engine.encode(delivery.handle, group: group.name, topic: delayed.name))
            }
            delivered += batch.count
        }
        let drainSeconds = (ContinuousClock.now - drainStart).seconds - 0.2
        let drainCPU = (processCPUMicros() - drainCPUBefore) / Double(max(1, delivered))
        print("")
        print(pad("recall (DELAY messages)", 34) + pad("calls/s", 10) + pad("CPU µs/call", 13) + "notes")
        print(pad("recall, 16 concurrent", 34) + pad(String(format: "%.0f", Double(recalled) / recallSeconds), 10)
            + pad(String(format: "%.1f", recallCPU), 13)
            + String(format: "%d of %d recalled; %.1f s to spare before their delivery time", recalled, messages, secondsLeft))
        print(pad("due: the other half delivered", 34) + pad(String(format: "%.0f", Double(delivered) / max(0.001, drainSeconds)), 10)
            + pad(String(format: "%.1f", drainCPU), 13)
            + "\(delivered) delivered (expected \(messages - recalled)); CPU per delivered message")
    }

    // MARK: reset offset

    private func resetCase(_ engine: ConsumptionEngine, log: CommitLog, topics: SQLiteTopicRegistry) async throws {
        let topic = try await topics.create(name: "replayed", type: .normal, queueCount: 8)
        try await fill(log, topic: topic.name, kind: .normal) { _ in [] }
        let group = try await engine.saveGroup(ConsumerGroup(name: "replayers", createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
        // Half the topic in flight (received, not acked): a reset must keep those ackable.
        var inFlight = 0
        while inFlight < messages / 2 {
            let batch = try await engine.receive(
                group: group, topic: topic, batch: 32, invisibleMs: 600_000, filter: .all, clientId: "r",
                firstQueue: UInt32(inFlight % 8))
            if batch.isEmpty { break }
            inFlight += batch.count
        }
        let middleMs = WallClock.nowMs()
        print("")
        print(pad("reset-offset", 34) + pad("ms", 10) + "queues moved (of 8), with \(inFlight) messages in flight")
        for (name, target) in [("to earliest", OffsetTarget.earliest), ("to a time (binary search)", .timestamp(ms: middleMs)), ("to latest", .latest)] {
            let started = ContinuousClock.now
            let changes = try await engine.resetOffsets(group: group.name, topic: topic, to: target)
            let ms = (ContinuousClock.now - started).seconds * 1000
            print(pad(name, 34) + pad(String(format: "%.2f", ms), 10) + "\(changes.filter { $0.from != $0.to }.count)")
        }
    }
}
