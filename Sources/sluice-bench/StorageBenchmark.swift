import ArgumentParser
import Foundation
import Histogram
import Logging
import NIOCore
import SluiceStorage

/// Commit-log throughput and latency against the disk's own limits, measured in the same run:
/// a plain loop writing the same bytes sequentially (for async flush), and a plain loop writing
/// the same batch sizes with one `fdatasync` per batch (for sync flush with group commit).
struct StorageBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Append 1 KiB records with 1, 16 and 256 concurrent appenders, sync and async flush.")

    @Option(help: "Folder for the benchmark's files (removed afterwards).") var dir: String = "./bench-data"
    @Option(help: "Record body size in bytes.") var recordSize: Int = 1024
    @Option(help: "Comma-separated appender counts.") var concurrency: String = "1,16,256"
    @Option(help: "Comma-separated flush modes (sync, async).") var flush: String = "sync,async"
    @Option(help: "Seconds each case runs.") var seconds: Double = 3
    @Option(name: .customLong("segment-mib"), help: "Segment size in MiB.") var segmentMiB: Int = 256

    func run() async throws {
        let counts = concurrency.split(separator: ",").compactMap { Int($0) }
        let modes = flush.split(separator: ",").map(String.init)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        print("storage benchmark: \(recordSize)-byte bodies, \(seconds) s per case, segments \(segmentMiB) MiB, dir \(dir)")
        print(
            pad("case", 16) + pad("msgs/s", 11) + pad("MB/s", 9) + pad("p50 µs", 9) + pad("p99 µs", 9)
                + pad("p999 µs", 9) + pad("recs/sync", 10) + pad("limit MB/s", 11) + pad("ratio", 7) + "peak RSS MiB")
        for mode in modes {
            for count in counts {
                let result = try await runCase(mode: mode, appenders: count)
                let limit: Double
                if mode == "sync" {
                    limit = try RawDiskLimits.batchedSyncMBps(
                        directory: dir, batchBytes: max(4096, result.bytesPerSync), totalBytes: result.bytes)
                } else {
                    limit = try RawDiskLimits.sequentialWriteMBps(directory: dir, totalBytes: max(result.bytes, 64 << 20))
                }
                let ratio = result.mbPerSecond / limit
                print(
                    pad("\(mode) x\(count)", 16) + pad(String(format: "%.0f", result.messagesPerSecond), 11)
                        + pad(String(format: "%.1f", result.mbPerSecond), 9) + pad("\(result.p50)", 9)
                        + pad("\(result.p99)", 9) + pad("\(result.p999)", 9)
                        + pad(String(format: "%.1f", result.recordsPerSync), 10) + pad(String(format: "%.1f", limit), 11)
                        + pad(String(format: "%.2f", ratio), 7) + String(format: "%.0f", peakResidentMiB()))
            }
        }
        print("limit: sync rows = plain loop writing the same batch size with one fdatasync per batch;")
        print("       async rows = plain loop writing the same bytes sequentially (1 MiB writes, one final fdatasync).")
        print("goals: async >= 0.60 of sequential; sync x256 >= 0.50 of the batched-sync loop.")
        try? FileManager.default.removeItem(atPath: dir)
    }

    struct CaseResult {
        var messagesPerSecond: Double
        var mbPerSecond: Double
        var bytes: Int
        var bytesPerSync: Int
        var recordsPerSync: Double
        var p50: Int
        var p99: Int
        var p999: Int
    }

    private func runCase(mode: String, appenders: Int) async throws -> CaseResult {
        let directory = "\(dir)/log-\(mode)-\(appenders)"
        try? FileManager.default.removeItem(atPath: directory)
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = segmentMiB << 20
        configuration.flush = mode == "sync" ? .sync : .async(interval: .milliseconds(10))
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try await CommitLog.open(configuration, logger: logger)
        let body = ByteBuffer(repeating: 0x61, count: recordSize)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let started = ContinuousClock.now
        let before = log.statistics
        let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var sequence = 0
                    while ContinuousClock.now < deadline {
                        let record = MessageRecord(
                            topic: "bench", queueId: UInt32(appender % 8), tags: "t", keys: ["k\(sequence)"],
                            body: body, bornTimestampMs: 0)
                        let begin = ContinuousClock.now
                        _ = try await log.append(record)
                        histogram.record(UInt64((ContinuousClock.now - begin) / .microseconds(1)))
                        sequence += 1
                    }
                    return histogram
                }
            }
            var all: [Histogram<UInt64>] = []
            for try await histogram in group { all.append(histogram) }
            return all
        }
        let elapsed = ContinuousClock.now - started
        let after = log.statistics
        await log.close()
        try? FileManager.default.removeItem(atPath: directory)
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for histogram in histograms { merged.add(histogram) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let records = after.records - before.records
        let bytes = after.bytes - before.bytes
        let syncs = max(1, after.syncs - before.syncs)
        return CaseResult(
            messagesPerSecond: Double(records) / seconds, mbPerSecond: Double(bytes) / seconds / 1e6, bytes: bytes,
            bytesPerSync: bytes / syncs, recordsPerSync: Double(records) / Double(syncs),
            p50: Int(merged.valueAtPercentile(50)), p99: Int(merged.valueAtPercentile(99)),
            p999: Int(merged.valueAtPercentile(99.9)))
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func peakResidentMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
