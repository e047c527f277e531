import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// Consumption through the real engine (claims, SQLite-backed acks, long polling), on an empty
/// topic and on a topic holding a deep backlog, in the same run: the drain rate of a burst and the
/// end-to-end latency of new messages should not care how much is stored behind them. Then the
/// cost of idle long-polling receivers: memory per parked receive and CPU while they wait.
struct ConsumeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Receive/ack rate and end-to-end latency with and without a deep backlog; idle long-poll receivers.")

    @Option(help: "Folder for the benchmark's files (removed afterwards).") var dir: String = "./bench-data"
    @Option(help: "Messages stored in the backlog topic before measuring.") var backlog: Int = 10_000_000
    @Option(help: "Messages drained per rate case.") var burst: Int = 100_000
    @Option(help: "Messages per second sent during a latency case.") var rate: Int = 2000
    @Option(name: .customLong("latency-seconds"), help: "Seconds each latency case sends.") var latencySeconds: Double = 5
    @Option(help: "Concurrent consumers.") var consumers: Int = 4
    @Option(help: "Idle long-polling receivers parked at the end.") var waiters: Int = 10_000
    @Option(help: "Message body bytes.") var bodySize: Int = 100
    @Flag(
        name: .customLong("drain-backlog"),
        help: "At the end, drain the whole backlog with a new group (batch 32, one ack request per batch) and print its rate by tenths.")
    var drainBacklog = false

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
        let fresh = try await topics.create(name: "fresh", type: .normal, queueCount: 8)
        let deep = try await topics.create(name: "deep", type: .normal, queueCount: 8)
        let idle = try await topics.create(name: "idle", type: .normal, queueCount: 8)
        print("consume benchmark: \(bodySize)-byte bodies, \(consumers) consumers (batch 32, one ack per message), sync flush")

        let fillStart = ContinuousClock.now
        try await fill(log, topic: "deep", count: backlog)
        let fillSeconds = (ContinuousClock.now - fillStart).seconds
        print(String(format: "backlog: %d messages stored in topic deep in %.1f s (%.0f msgs/s)", backlog, fillSeconds,
                     Double(backlog) / fillSeconds))

        // Drain rate: a burst at the head of an empty topic vs the oldest messages of the backlog.
        try await fill(log, topic: "fresh", count: burst)
        let rawRead = rawReadRate(log, topic: "deep", count: burst)
        let freshRate = try await drain(engine, group: "drain-fresh", topic: fresh, count: burst)
        let deepRate = try await drain(engine, group: "drain-deep", topic: deep, count: burst)
        // Latency of new messages: groups at the head of each topic.
        let freshLatency = try await latency(engine, log: log, group: "live-fresh", topic: fresh, startAtEnd: true)
        let deepLatency = try await latency(engine, log: log, group: "live-deep", topic: deep, startAtEnd: true)

        print("")
        print(pad("case", 22) + pad("drain msgs/s", 14) + pad("e2e p50 µs", 12) + pad("e2e p99 µs", 12) + pad("received", 10))
        for (name, rate, latency) in [("empty topic", freshRate, freshLatency), ("\(backlog / 1_000_000)M backlog", deepRate, deepLatency)] {
            print(pad(name, 22) + pad(String(format: "%.0f", rate), 14) + pad("\(latency.p50)", 12)
                + pad("\(latency.p99)", 12) + pad("\(latency.count)", 10))
        }
        print(String(format: "ratio backlog/empty: drain %.2f, p50 %.2f, p99 %.2f   (goal: within 0.80–1.25)",
                     deepRate / freshRate, Double(deepLatency.p50) / Double(max(1, freshLatency.p50)),
                     Double(deepLatency.p99) / Double(max(1, freshLatency.p99))))
        print(String(format: "limit: plain index+record reads of the same backlog %.0f msgs/s; drain ratio to it %.2f (empty) %.2f (backlog)",
                     rawRead, freshRate / rawRead, deepRate / rawRead))

        if drainBacklog { try await drainWholeBacklog(engine, topic: deep) }
        try await idleReceivers(engine, topic: idle)
        await engine.close()
        await topics.close()
        try? await store.close()
        await log.close()
    }

    // MARK: cases

    private func fill(_ log: CommitLog, topic: String, count: Int) async throws {
        let body = ByteBuffer(repeating: 0x62, count: bodySize)
        let appenders = 256
        try await withThrowingTaskGroup(of: Void.self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var index = appender
                    while index < count {
                        _ = try await log.append(
                            MessageRecord(topic: topic, queueId: UInt32(index % 8), tags: "t", body: body, bornTimestampMs: 0))
                        index += appenders
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Reads `count` records through the queue indexes with no group state: the ceiling a drain can reach.
    private func rawReadRate(_ log: CommitLog, topic: String, count: Int) -> Double {
        let started = ContinuousClock.now
        var read = 0
        for queueId in 0..<8 {
            let queue = QueueID(topic: topic, queueId: UInt32(queueId))
            var offset: UInt64 = 0
            while read < count * (queueId + 1) / 8 {
                let entries = log.queueEntries(queue, from: offset, maxCount: 256)
                if entries.isEmpty { break }
                for entry in entries where (try? log.read(entry, of: queue)) != nil { read += 1 }
                offset = entries.last!.queueOffset + 1
            }
        }
        return Double(read) / (ContinuousClock.now - started).seconds
    }

    private func drain(_ engine: ConsumptionEngine, group name: String, topic: TopicDefinition, count: Int) async throws -> Double {
        // The backlog was sent before the group existed: it starts at the oldest message.
        let group = try await engine.saveGroup(ConsumerGroup(name: name, createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
        let started = ContinuousClock.now
        let received = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for consumer in 0..<consumers {
                tasks.addTask {
                    var got = 0
                    while got < count / consumers {
                        let batch = try await engine.receive(
                            group: group, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all,
                            clientId: "c\(consumer)", firstQueue: UInt32(consumer % 8))
                        if batch.isEmpty { break }
                        for delivery in batch {
                            try await engine.ack(
                                group: name, topic: topic.name,
                                receiptHandle: engine.encode(delivery.handle, group: name, topic: topic.name))
                        }
                        got += batch.count
                    }
                    return got
                }
            }
            return try await tasks.reduce(0, +)
        }
        return Double(received) / (ContinuousClock.now - started).seconds
    }

    /// Drains the whole backlog with a new group the way the gRPC front does it (batches of 32,
    /// each acknowledged by one multi-entry ack): the rate of each tenth, so a drain that slows as
    /// it goes (or as the group's state grows) shows, CPU per message and peak RSS.
    private func drainWholeBacklog(_ engine: ConsumptionEngine, topic: TopicDefinition) async throws {
        let name = "drain-all"
        let group = try await engine.saveGroup(ConsumerGroup(name: name, createdAtMs: WallClock.nowMs(), consumeFrom: .earliest))
        let tenth = max(1, backlog / 10)
        let counter = DrainProgress(tenth: tenth)
        print("")
        print("drain of the whole \(backlog)-message backlog by \(consumers) consumers (batch 32, one ack request per batch)")
        print(pad("tenth", 8) + pad("msgs/s", 12) + pad("cpu µs/msg", 12))
        let started = ContinuousClock.now
        let cpuStarted = processCPUMicros()
        let received = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for consumer in 0..<consumers {
                tasks.addTask {
                    var got = 0
                    var emptyInARow = 0
                    while emptyInARow < 3 {
                        let batch = try await engine.receive(
                            group: group, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all,
                            clientId: "c\(consumer)", firstQueue: UInt32(consumer % 8))
                        if batch.isEmpty {
                            emptyInARow += 1
                            continue
                        }
                        emptyInARow = 0
                        let entries = batch.map {
                            ConsumptionEngine.AckEntry(
                                messageId: $0.record.messageId, receiptHandle: engine.encode($0.handle, group: name, topic: topic.name))
                        }
                        for result in await engine.ack(group: name, topic: topic.name, entries: entries, clientId: "c\(consumer)") {
                            if case .failure(let error) = result { throw error }
                        }
                        got += batch.count
                        if let line = counter.add(batch.count) { print(line) }
                    }
                    return got
                }
            }
            return try await tasks.reduce(0, +)
        }
        let seconds = (ContinuousClock.now - started).seconds
        let cpu = processCPUMicros() - cpuStarted
        print(String(format: "drained %d messages (the backlog plus the latency case's %d) in %.1f s: %.0f msgs/s, %.2f µs CPU per message, peak RSS %.0f MiB",
                     received, received - backlog, seconds, Double(received) / seconds, cpu / Double(max(1, received)), peakResidentMiB()))
        if let (first, last) = counter.firstAndLastRates() {
            print(String(format: "flat: last tenth / first tenth = %.2f", last / first))
        }
    }

    struct LatencyResult {
        var p50: Int
        var p99: Int
        var count: Int
    }

    /// Sends at `rate` for `latencySeconds` while the consumers long-poll; latency is from just
    /// before the append to the moment a consumer holds the message.
    private func latency(
        _ engine: ConsumptionEngine, log: CommitLog, group name: String, topic: TopicDefinition, startAtEnd: Bool = false
    ) async throws -> LatencyResult {
        let group = try await engine.groupForConsumer(name)
        if startAtEnd {
            for queueId in 0..<UInt32(topic.queueCount) {
                let end = log.queueBounds(QueueID(topic: topic.name, queueId: queueId)).next
                try await engine.resetOffset(group: group, topic: topic, queueId: queueId, to: end)
            }
        }
        let epoch = ContinuousClock.now
        let total = Int(Double(rate) * latencySeconds)
        let stop = ContinuousClock.now + .milliseconds(Int(latencySeconds * 1000) + 2000)
        return try await withThrowingTaskGroup(of: Histogram<UInt64>?.self) { tasks in
            tasks.addTask {
                let interval = Duration.seconds(1) / rate
                var next = ContinuousClock.now
                for index in 0..<total {
                    next += interval
                    try await Task.sleep(until: next)
                    var body = ByteBuffer()
                    body.writeInteger(UInt64((ContinuousClock.now - epoch) / .nanoseconds(1)))
                    body.writeRepeatingByte(0x63, count: max(0, bodySize - 8))
                    _ = try await log.append(
                        MessageRecord(topic: topic.name, queueId: UInt32(index % 8), tags: "t", body: body, bornTimestampMs: 0))
                }
                return nil
            }
            for consumer in 0..<consumers {
                tasks.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    while ContinuousClock.now < stop {
                        let batch = try await engine.receive(
                            group: group, topic: topic, batch: 32, invisibleMs: 60_000, filter: .all,
                            clientId: "l\(consumer)", firstQueue: UInt32(consumer % 8))
                        let now = UInt64((ContinuousClock.now - epoch) / .nanoseconds(1))
                        if batch.isEmpty {
                            await engine.waiters.wait(group: name, topic: topic.name, until: min(stop, .now + .milliseconds(500)))
                            continue
                        }
                        for delivery in batch {
                            var body = delivery.record.message.body
                            if let sent = body.readInteger(as: UInt64.self), now >= sent {
                                histogram.record((now - sent) / 1000)
                            }
                            try await engine.ack(
                                group: name, topic: topic.name,
                                receiptHandle: engine.encode(delivery.handle, group: name, topic: topic.name))
                        }
                    }
                    return histogram
                }
            }
            var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for try await histogram in tasks { if let histogram { merged.add(histogram) } }
            return LatencyResult(
                p50: Int(merged.valueAtPercentile(50)), p99: Int(merged.valueAtPercentile(99)), count: Int(merged.totalCount))
        }
    }

    /// Parks `waiters` long-poll receives on an empty topic: resident memory per parked receive
    /// and process CPU while they all wait.
    private func idleReceivers(_ engine: ConsumptionEngine, topic: TopicDefinition) async throws {
        let group = try await engine.groupForConsumer("idle")
        let before = residentBytes()
        let deadline = ContinuousClock.now + .seconds(60)
        let parked = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for receiver in 0..<waiters {
                    tasks.addTask {
                        _ = try? await engine.receive(
                            group: group, topic: topic, batch: 32, invisibleMs: 30_000, filter: .all,
                            clientId: "idle\(receiver)", firstQueue: UInt32(receiver % 8))
                        await engine.waiters.wait(group: "idle", topic: topic.name, until: deadline)
                    }
                }
            }
        }
        while engine.waiters.count < waiters && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))
        let after = residentBytes()
        let cpuBefore = processCPUMicros()
        let idleSeconds = 5.0
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpuPercent = (processCPUMicros() - cpuBefore) / (idleSeconds * 1e6) * 100
        print("")
        print(String(format: "idle receivers: %d parked; resident memory %+.1f MiB, %.0f bytes per parked receive (task included); "
                     + "CPU while idle %.2f%% of one core", engine.waiters.count, Double(after - before) / 1_048_576,
                     Double(after - before) / Double(max(1, waiters)), cpuPercent))
        parked.cancel()
        await parked.value
    }

    private func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kibibytes * 1024
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Counts drained messages and prints a line per tenth (rate and CPU over that tenth).
final class DrainProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let tenth: Int
    private var total = 0
    private var markTime = ContinuousClock.now
    private var markCPU = processCPUMicros()
    private var rates: [Double] = []

    init(tenth: Int) { self.tenth = tenth }

    func add(_ count: Int) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let before = total / tenth
        total += count
        guard total / tenth > before else { return nil }
        let now = ContinuousClock.now
        let cpu = processCPUMicros()
        let rate = Double(tenth) / (now - markTime).seconds
        rates.append(rate)
        let line = pad("\(total / tenth)", 8) + pad(String(format: "%.0f", rate), 12)
            + pad(String(format: "%.2f", (cpu - markCPU) / Double(tenth)), 12)
        markTime = now
        markCPU = cpu
        return line
    }

    func firstAndLastRates() -> (Double, Double)? {
        lock.lock()
        defer { lock.unlock() }
        guard let first = rates.first, let last = rates.last, rates.count >= 2 else { return nil }
        return (first, last)
    }
}
