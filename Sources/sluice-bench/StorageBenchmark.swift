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
        let columns: [(String, Int)] = [
            ("case", 16), ("msgs/s", 11), ("MB/s", 9), ("p50 µs", 9), ("p99 µs", 9), ("p999 µs", 9), ("recs/sync", 10),
            ("limit MB/s", 11), ("ratio", 7), ("cpu µs/msg", 11),
        ]
        print(columns.map { pad($0.0, $0.1) }.joined() + "peak RSS MiB")
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
                let cells: [(String, Int)] = [
                    ("\(mode) x\(count)", 16), (String(format: "%.0f", result.messagesPerSecond), 11),
                    (String(format: "%.1f", result.mbPerSecond), 9), ("\(result.p50)", 9), ("\(result.p99)", 9),
                    ("\(result.p999)", 9), (String(format: "%.1f", result.recordsPerSync), 10),
                    (String(format: "%.1f", limit), 11), (String(format: "%.2f", ratio), 7),
                    (String(format: "%.1f", result.cpuMicrosPerMessage), 11),
                ]
                print(cells.map { pad($0.0, $0.1) }.joined() + String(format: "%.0f", peakResidentMiB()))
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
        /// Process CPU time (user + system, all threads) per appended record while the case ran:
        /// what an append costs on a machine whose cores are the bottleneck.
        var cpuMicrosPerMessage: Double
    }

    func runCase(mode: String, appenders: Int) async throws -> CaseResult {
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
        let cpuBefore = processCPUMicros()
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
        let cpuMicros = processCPUMicros() - cpuBefore
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
            p999: Int(merged.valueAtPercentile(99.9)), cpuMicrosPerMessage: cpuMicros / Double(max(1, records)))
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// User plus system CPU time of the whole process so far, in microseconds.
func processCPUMicros() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec)
    return user + Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec)
}

func peakResidentMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
