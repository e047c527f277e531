import ArgumentParser
import Foundation
import Logging
import NIOCore
import SluiceStorage
import Synchronization

/// RocketMQ's scale claim, measured: accumulate 100 million messages on one machine and check
/// that write throughput stays flat as the log and its indexes grow (the last tenth of the run at
/// least 90 % of the first tenth). Durable (sync flush, group commit), small bodies so the run
/// fits the disk; the free space is checked first.
struct AccumulateBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accumulate",
        abstract: "Append N small messages (default 100 M x 200 B) and print the rate of each tenth of the run.")

    @Option(help: "Folder for the log (removed afterwards unless --keep).") var dir: String = "./bench-data/accumulate"
    @Option(help: "Messages to append.") var messages: Int = 100_000_000
    @Option(help: "Body size in bytes.") var bodyBytes: Int = 200
    @Option(help: "Concurrent appenders.") var appenders: Int = 256
    @Option(help: "Flush mode: sync or async.") var flush: String = "sync"
    @Option(name: .customLong("segment-mib"), help: "Segment size in MiB.") var segmentMiB: Int = 1024
    @Option(help: "Queues the messages are spread over.") var queues: Int = 8
    @Flag(help: "Keep the folder afterwards (e.g. to drain it with another tool).") var keep = false

    /// Header, properties, key, queue-index and key-index entry per message, measured roughly on
    /// this format; used only to check the disk has room before starting.
    static let overheadBytesPerMessage = 190

    func run() async throws {
        guard messages >= 10, bodyBytes > 0, appenders > 0, queues > 0 else {
            throw ValidationError("--messages must be at least 10; --body-bytes, --appenders and --queues positive")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let needed = Double(messages) * Double(bodyBytes + Self.overheadBytesPerMessage)
        let free = Self.freeBytes(dir)
        print(String(format: "accumulate: %d messages x %d B, %d appenders, %@ flush, dir %@; needs ~%.1f GB, %.1f GB free",
                     messages, bodyBytes, appenders, flush, dir, needed / 1e9, free / 1e9))
        guard free > needed * 1.15 else {
            throw ValidationError(String(format: "not enough free space: %.1f GB needed (with 15%% margin), %.1f GB free", needed * 1.15 / 1e9, free / 1e9))
        }
        var configuration = CommitLogConfiguration(directory: dir)
        configuration.segmentSizeBytes = segmentMiB << 20
        configuration.flush = flush == "async" ? .async(interval: .milliseconds(10)) : .sync
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let body = ByteBuffer(repeating: 0x61, count: bodyBytes)
        let progress = Progress()
        let tenth = messages / 10
        let messages = messages
        let started = ContinuousClock.now
        let cpuStart = processCPUMicros()
        let queueCount = UInt32(queues)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<appenders {
                group.addTask {
                    while true {
                        let sequence = progress.issued.add(1, ordering: .relaxed).newValue
                        if sequence > messages { return }
                        let record = MessageRecord(
                            topic: "accumulate", queueId: UInt32(truncatingIfNeeded: sequence) % queueCount,
                            tags: "t", keys: ["k\(sequence)"], body: body, bornTimestampMs: 0)
                        _ = try await log.append(record)
                        // A tenth is done when its last number is stored (others may still be in flight: close enough at 10 M per tenth).
                        if sequence % tenth == 0 {
                            let now = ContinuousClock.now
                            let cpu = processCPUMicros()
                            progress.marks.withLock { $0.append((now, cpu)) }
                            print(String(format: "  %3d%%  %.0f s", sequence / tenth * 10, Self.seconds(now - started)))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = Self.seconds(ContinuousClock.now - started)
        let cpuTotal = processCPUMicros() - cpuStart
        await log.close()
        let diskBytes = Self.folderBytes(dir)
        let recorded = progress.marks.withLock { $0 }
        let times = recorded.map(\.0).sorted()
        let cpus = recorded.map(\.1).sorted()
        var previous = started
        var previousCPU = cpuStart
        var rates: [Double] = []
        print(pad("tenth", 8) + pad("msgs/s", 12) + pad("MB/s", 9) + pad("cpu µs/msg", 12))
        for (index, mark) in times.enumerated() {
            let rate = Double(tenth) / Self.seconds(mark - previous)
            let cpu = (cpus[index] - previousCPU) / Double(tenth)
            rates.append(rate)
            print(pad("\(index + 1)", 8) + pad(String(format: "%.0f", rate), 12)
                + pad(String(format: "%.1f", rate * Double(bodyBytes) / 1e6), 9) + pad(String(format: "%.1f", cpu), 12))
            previous = mark
            previousCPU = cpus[index]
        }
        let ratio = (rates.last ?? 0) / max(1, rates.first ?? 1)
        print(String(format: "total: %d messages in %.0f s (%.0f msgs/s), %.1f µs CPU per message, %.1f GB on disk (%.0f B per message), peak RSS %.0f MiB",
                     messages, total, Double(messages) / total, cpuTotal / Double(messages), diskBytes / 1e9,
                     diskBytes / Double(messages), peakResidentMiB()))
        print(String(format: "flat: last tenth / first tenth = %.2f (goal >= 0.90): %@", ratio, ratio >= 0.9 ? "met" : "MISSED"))
        if !keep { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Shared by the appenders: the next sequence number, and when each tenth was reached.
    final class Progress: Sendable {
        let issued = Atomic<Int>(0)
        let marks = Mutex<[(ContinuousClock.Instant, Double)]>([])
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func freeBytes(_ path: String) -> Double {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return 0 }
        return Double(stats.f_bavail) * Double(stats.f_frsize)
    }

    static func folderBytes(_ path: String) -> Double {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total = 0.0
        while let name = walker.nextObject() as? String {
            var info = stat()
            if stat(path + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += Double(info.st_blocks) * 512 }
        }
        return total
    }
}
