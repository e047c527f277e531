import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage

/// What a consumer's filter costs per message: a tag expression (checked on the index's tag hash,
/// then the record's tag) against SQL92 expressions (every candidate record read, then evaluated
/// on its properties). Two phases per filter: the receive scan as the broker runs it (index entry,
/// record read, filter), and the evaluation alone on records already in memory. With
/// `LD_PRELOAD=.build/release/libSluiceMallocCount.so` it also prints heap allocations per message;
/// the evaluation alone should allocate nothing, for tags and SQL92 alike.
struct FilterBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter", abstract: "Cost per message of tag and SQL92 filters (time, and allocations when preloaded).")

    @Option(help: "Folder for the benchmark's log (removed afterwards).") var dir: String = "./bench-data/filter"
    @Option(help: "Messages stored and filtered.") var messages: Int = 200_000
    @Option(help: "Rounds over the stored messages per case (the best round is reported).") var rounds: Int = 3

    static let queues: UInt32 = 4
    static let tags = ["red", "green", "blue", "yellow"]
    static let regions = ["eu", "us", "asia"]

    func run() async throws {
        try? FileManager.default.removeItem(atPath: dir)
        var configuration = CommitLogConfiguration(directory: dir)
        configuration.segmentSizeBytes = 256 << 20
        configuration.flush = .async(interval: .milliseconds(50))
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let body = ByteBuffer(repeating: 0x62, count: 256)
        for index in 0..<messages {
            _ = try await log.append(MessageRecord(
                topic: "filter", queueId: UInt32(index) % Self.queues, tags: Self.tags[index % Self.tags.count],
                keys: [], properties: [("price", "\(index % 100)"), ("region", Self.regions[index % Self.regions.count])],
                body: body, bornTimestampMs: 0))
        }
        let counter = MallocCounter()
        print("filter benchmark: \(messages) messages (4 tags, properties price 0-99 and region), best of \(rounds) rounds; allocations \(counter.available ? "counted (libSluiceMallocCount.so preloaded)" : "n/a (run with LD_PRELOAD=.build/release/libSluiceMallocCount.so)")")
        let cases: [(String, TagFilter)] = [
            ("no filter", .all),
            ("tag red||blue", try TagFilter(expression: "red || blue")),
            ("sql price/region", TagFilter(sql: try SQLFilter("price BETWEEN 10 AND 60 AND region <> 'us'"))),
            ("sql TAGS IN + >", TagFilter(sql: try SQLFilter("TAGS IN ('red', 'blue') AND price > 50"))),
        ]
        print(pad("filter", 19) + pad("matched", 9) + pad("scan ns/msg", 13) + pad("scan allocs/msg", 17)
            + pad("eval ns/msg", 13) + "eval allocs/msg")
        let stored = try Self.readAll(log)
        for (name, filter) in cases {
            var scanBest = Double.infinity
            var evalBest = Double.infinity
            var scanAllocations = 0.0
            var evalAllocations = 0.0
            var matched = 0
            for _ in 0..<rounds {
                let allocationsBefore = counter.count
                let scanStart = ContinuousClock.now
                matched = try Self.scan(log, filter)
                let scanTime = ContinuousClock.now - scanStart
                scanAllocations = Double(counter.count - allocationsBefore) / Double(messages)
                scanBest = min(scanBest, Self.nanoseconds(scanTime) / Double(messages))
                let evalBefore = counter.count
                let evalStart = ContinuousClock.now
                var hits = 0
                for record in stored where filter.mayMatch(tagHash: record.tags.sluiceTagHash) && filter.matches(record) {
                    hits += 1
                }
                let evalTime = ContinuousClock.now - evalStart
                evalAllocations = Double(counter.count - evalBefore) / Double(messages)
                evalBest = min(evalBest, Self.nanoseconds(evalTime) / Double(messages))
                precondition(hits == matched, "scan and evaluation disagree")
            }
            func allocations(_ value: Double) -> String { counter.available ? String(format: "%.2f", value) : "n/a" }
            print(pad(name, 19) + pad("\(matched)", 9) + pad(String(format: "%.0f", scanBest), 13)
                + pad(allocations(scanAllocations), 17) + pad(String(format: "%.1f", evalBest), 13) + allocations(evalAllocations))
        }
        print("scan = index entries + record read + filter, as a receive does (a tag filter skips reads by tag hash);")
        print("eval = the filter alone on records already read. Goal: SQL92 eval allocates nothing beyond the tag filter's (0).")
        await log.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func scan(_ log: CommitLog, _ filter: TagFilter) throws -> Int {
        var matched = 0
        for queueId in 0..<queues {
            let queue = QueueID(topic: "filter", queueId: queueId)
            let bounds = log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: 1024)
                if entries.isEmpty { break }
                for entry in entries where filter.mayMatch(tagHash: entry.tagHash) {
                    if filter.matches(try log.read(entry, of: queue).message) { matched += 1 }
                }
                offset += UInt64(entries.count)
            }
        }
        return matched
    }

    static func readAll(_ log: CommitLog) throws -> [MessageRecord] {
        var records: [MessageRecord] = []
        for queueId in 0..<queues {
            let queue = QueueID(topic: "filter", queueId: queueId)
            let bounds = log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: 1024)
                if entries.isEmpty { break }
                for entry in entries { records.append(try log.read(entry, of: queue).message) }
                offset += UInt64(entries.count)
            }
        }
        return records
    }

    static func nanoseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    }
}

/// `sluice_malloc_count` of libSluiceMallocCount.so when it is preloaded.
struct MallocCounter {
    private let function: (@convention(c) () -> UInt64)?

    init() {
        let handle = dlopen(nil, RTLD_NOW)
        if let symbol = dlsym(handle, "sluice_malloc_count") {
            function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        } else {
            function = nil
        }
    }

    var available: Bool { function != nil }
    var count: Int { Int(function?() ?? 0) }
}
