import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// What a million lite topics cost. Lite messages go into the parent topic's queues like any
/// message (one log append, one 24-byte queue index entry) with the lite topic's name in the
/// record, so the lite topics themselves cost no file, no index and no SQLite row; only a group's
/// subscriptions are rows. Three phases:
///
/// 1. append: `messages` plain NORMAL messages, then `messages` LITE messages each of a distinct
///    lite topic (`session-0`, `session-1`, ...), per-message time, log bytes per message, files in
///    the data folder, resident memory (RSS) after each;
/// 2. subscriptions: `subscriptions` rows stored through `LiteSubscriptions` (groups of
///    `subscribed` lite topics each), time per subscription, SQLite file size and RSS;
/// 3. receive: one group subscribed to `subscribed` of the lite topics scans the lite messages as
///    a receive does (queue index entry, record read, lite filter), time per message scanned.
struct LiteBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lite", abstract: "Cost of 1M lite topics: append, subscription state (SQLite, RSS), receive with N subscribed.")

    @Option(help: "Folder for the benchmark's log and database (removed afterwards).") var dir: String = "./bench-data/lite"
    @Option(help: "Messages per phase; each LITE message has its own lite topic, so this is the number of lite topics.")
    var messages: Int = 1_000_000
    @Option(help: "Lite subscriptions stored in SQLite in all (groups of --subscribed each).") var subscriptions: Int = 1_000_000
    @Option(help: "Lite topics one group subscribes (its quota in this run).") var subscribed: Int = 1000

    static let queues: UInt32 = 8
    static let parent = "agents"

    func run() async throws {
        guard messages > 0, subscriptions >= 0, subscribed > 0 else {
            throw ValidationError("--messages and --subscribed must be at least 1, --subscriptions at least 0")
        }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var configuration = CommitLogConfiguration(directory: dir + "/log")
        configuration.segmentSizeBytes = 256 << 20
        configuration.flush = .async(interval: .milliseconds(50))
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let body = ByteBuffer(repeating: 0x62, count: 256)
        print("lite benchmark: \(messages) messages per phase (256-byte bodies, \(Self.queues) queues), \(subscriptions) stored subscriptions, one group subscribed to \(subscribed)")
        print(pad("phase", 34) + pad("ns/msg", 10) + pad("log B/msg", 11) + pad("files", 7) + "RSS MiB")
        let startRSS = Self.residentMiB()
        print(pad("start", 34) + pad("-", 10) + pad("-", 11) + pad("\(Self.files(dir))", 7) + String(format: "%.1f", startRSS))

        // 1. append: plain messages, then one message per distinct lite topic.
        for lite in [false, true] {
            let before = log.endOffset
            let start = ContinuousClock.now
            for index in 0..<messages {
                var properties: [(String, String)] = []
                var queueId = UInt32(index) % Self.queues
                if lite {
                    let name = "session-\(index)"
                    properties = [(MessageProperty.liteTopic, name)]
                    queueId = UInt32(truncatingIfNeeded: name.hashValue) % Self.queues
                }
                _ = try await log.append(MessageRecord(
                    topic: Self.parent, queueId: queueId, keys: [], properties: properties, body: body, bornTimestampMs: 0,
                    messageType: (lite ? RecordKind.lite : RecordKind.normal).rawValue))
            }
            let elapsed = ContinuousClock.now - start
            let bytes = Double(log.endOffset - before) / Double(messages)
            print(pad(lite ? "append LITE (\(messages) lite topics)" : "append NORMAL", 34)
                + pad(String(format: "%.0f", FilterBenchmark.nanoseconds(elapsed) / Double(messages)), 10)
                + pad(String(format: "%.0f", bytes), 11) + pad("\(Self.files(dir))", 7) + String(format: "%.1f", Self.residentMiB()))
        }

        // 2. subscriptions: rows in SQLite, mirrored in memory.
        let path = dir + "/transactions.sqlite"
        let migrations = try await TransactionStateStore.open(path: path, now: 0)
        let store = try await LiteSubscriptions.open(
            path: path, quotaPerGroup: subscribed, maxTotal: max(subscriptions, subscribed))
        let rssBefore = Self.residentMiB()
        let subscribeStart = ContinuousClock.now
        var stored = 0
        var group = 0
        while stored < subscriptions {
            let count = min(subscribed, subscriptions - stored)
            let names = Set((0..<count).map { "session-\((stored + $0) % messages)" })
            try await store.apply(.add, group: "group-\(group)", topic: Self.parent, liteTopics: names)
            stored += count
            group += 1
        }
        let subscribeTime = ContinuousClock.now - subscribeStart
        let sqliteBytes = Self.bytes(path) + Self.bytes(path + "-wal")
        print(pad("store \(subscriptions) subscriptions", 34)
            + pad(subscriptions == 0 ? "-" : String(format: "%.0f", FilterBenchmark.nanoseconds(subscribeTime) / Double(subscriptions)), 10)
            + pad("-", 11) + pad("\(Self.files(dir))", 7) + String(format: "%.1f", Self.residentMiB())
            + String(format: "  (SQLite %.1f MiB, %.0f B/row; RSS +%.1f MiB)", Double(sqliteBytes) / 1_048_576,
                     subscriptions == 0 ? 0 : Double(sqliteBytes) / Double(subscriptions), Self.residentMiB() - rssBefore))

        // 3. receive: a group subscribed to `subscribed` lite topics scans the lite messages.
        var filter = TagFilter.all
        filter.liteTopics = Set((0..<min(subscribed, messages)).map { "session-\($0 * max(1, messages / subscribed) % messages)" })
        let scanStart = ContinuousClock.now
        let (scanned, matched) = try Self.scanLite(log, filter)
        let scanTime = ContinuousClock.now - scanStart
        print(pad("receive scan, \(filter.liteTopics?.count ?? 0) subscribed", 34)
            + pad(String(format: "%.0f", FilterBenchmark.nanoseconds(scanTime) / Double(max(1, scanned))), 10)
            + pad("-", 11) + pad("\(Self.files(dir))", 7) + String(format: "%.1f", Self.residentMiB())
            + "  (\(scanned) scanned, \(matched) delivered)")
        print("files = files in the data folder (log segments, queue index files, SQLite): lite topics add none.")
        print("receive scan = queue index entry + record read + lite filter per message, as a receive scans the parent topic.")
        await store.close()
        try await migrations.close()
        await log.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Scans every lite message of the parent topic with `filter`; (scanned, matched).
    static func scanLite(_ log: CommitLog, _ filter: TagFilter) throws -> (Int, Int) {
        var scanned = 0, matched = 0
        for queueId in 0..<queues {
            let queue = QueueID(topic: parent, queueId: queueId)
            let bounds = log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: 1024)
                if entries.isEmpty { break }
                for entry in entries {
                    let record = try log.read(entry, of: queue).message
                    guard record.messageType == RecordKind.lite.rawValue else { continue }
                    scanned += 1
                    if filter.matches(record) { matched += 1 }
                }
                offset += UInt64(entries.count)
            }
        }
        return (scanned, matched)
    }

    static func files(_ directory: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var count = 0
        while let item = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + item, isDirectory: &isDirectory), !isDirectory.boolValue {
                count += 1
            }
        }
        return count
    }

    static func bytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Current resident set (`VmRSS`) in MiB.
    static func residentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return kibibytes / 1024
    }
}
