import ArgumentParser
import Foundation
import SluiceStorage
import SluiceTransactions

/// Transactional messages in-process (half + commit through the real coordinator, commit log with
/// sync flush) against SQLite's own batched insert+update rate on the same schema, measured in the
/// same run; then the same load over a table holding many pending half messages, and the
/// checker's dispatch rate over a large backlog of due transactions.
struct TransactionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "Half + commit with 1, 16 and 256 producers against SQLite's batched rate; pending and checker cases."
    )

    @Option(help: "Folder for the benchmark's files (removed afterwards).") var dir: String = "./bench-data/txn"
    @Option(help: "Message body size in bytes.") var bodySize: Int = 1024
    @Option(help: "Comma-separated producer counts.") var concurrency: String = "1,16,256"
    @Option(help: "Seconds each timed case runs.") var seconds: Double = 3
    @Option(name: .customLong("segment-mib"), help: "Commit-log segment size in MiB.") var segmentMiB: Int = 256
    @Option(help: "Pending (prepared) rows put in the table for the pending case; 0 skips it.")
    var pending: Int = 1_000_000
    @Option(help: "Producers in the pending case.") var pendingProducers: Int = 16
    @Option(help: "Alternating slices per side in the pending case (each seconds / slices long).")
    var pendingSlices: Int = 6
    @Option(help: "Rows per SQLite write when filling the table.") var fillRowsPerWrite: Int = 10_000
    @Option(help: "Transactions due for a check in the checker case; 0 skips it.") var due: Int = 100_000
    @Option(help: "The checker's batchLimit (due rows read per pass).") var checkerBatch: Int = 1_000
    @Option(help: "PRAGMA synchronous of the SQLite baseline (normal is the store's default; full syncs every commit).")
    var baselineSynchronous: String = "normal"

    func run() async throws {
        guard pendingSlices > 0, pendingProducers > 0, fillRowsPerWrite > 0, checkerBatch > 0, seconds > 0 else {
            throw ValidationError(
                "--seconds, --pending-producers, --pending-slices, --fill-rows-per-write and "
                    + "--checker-batch must be positive")
        }
        let counts = concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--concurrency is '\(concurrency)'; it must list positive producer counts")
        }
        guard let baselineMode = SQLiteSynchronousMode(rawValue: baselineSynchronous.uppercased()) else {
            throw ValidationError("--baseline-synchronous is '\(baselineSynchronous)'; use normal or full")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storeMode = TransactionStoreConfiguration().executor.connection.synchronous
        let bench = TransactionWorkload(
            directory: dir, bodySize: bodySize, seconds: seconds, segmentMiB: segmentMiB)

        print(
            "txn benchmark: half + commit, \(bodySize)-byte bodies, \(seconds) s per case, commit log sync flush, "
                + "segments \(segmentMiB) MiB, store SQLite synchronous=\(storeMode.rawValue), baseline "
                + "synchronous=\(baselineMode.rawValue), pending \(pending), due \(due), dir \(dir)")
        let syncsPerSecond =
            try RawDiskLimits.batchedSyncMBps(
                directory: dir, batchBytes: 4096, totalBytes: 4096 * 2_000) * 1e6 / 4096
        print(
            String(format: "disk: 4 KiB overwrite + fdatasync loop: %.0f syncs/s", syncsPerSecond)
                + String(
                    format: " (a lone producer needs 2 log syncs per transaction: <= ~%.0f txn/s)", syncsPerSecond / 2))
        print("host load average at start: \(Self.loadAverage())")
        print("")

        // 1 and 2: half + commit against SQLite's batched insert+update, same concurrency, same run.
        print(Self.header)
        var ratios: [(Int, Double)] = []
        var threadLines: [String] = []
        for count in counts {
            let sluice = try await bench.halfCommit(producers: count, label: "x\(count)")
            let sqlite = try await bench.sqliteInsertUpdate(workers: count, synchronous: baselineMode)
            let store = try await bench.storeOnly(workers: count)
            let ratio = sluice.transactionsPerSecond / sqlite.transactionsPerSecond
            ratios.append((count, ratio))
            print(Self.row("half+commit x\(count)", sluice, limit: sqlite.transactionsPerSecond, ratio: ratio))
            print(Self.row("sqlite ins+upd x\(count)", sqlite, limit: nil, ratio: nil))
            print(
                Self.row(
                    "(store only, no log) x\(count)", store, limit: sqlite.transactionsPerSecond,
                    ratio: store.transactionsPerSecond / sqlite.transactionsPerSecond))
            threadLines.append(pad("half+commit x\(count)", 31) + sluice.cpuByThread)
            threadLines.append(pad("sqlite ins+upd x\(count)", 31) + sqlite.cpuByThread)
            threadLines.append(pad("(store only, no log) x\(count)", 31) + store.cpuByThread)
        }
        print(
            "ratio = Sluice txn/s / SQLite batched insert+update txn/s at the same concurrency: "
                + ratios.map { "x\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", "))
        Self.printThreadBreakdown(threadLines)
        print("")

        // 3: the same load with many pending half messages in the table.
        if pending > 0 {
            try await runPendingCase(bench)
            print("")
        }

        // 4: the checker over a backlog of due transactions.
        if due > 0 {
            let checker = try await bench.checkerDispatch(due: due, batchLimit: checkerBatch)
            print(
                "checker: \(checker.due) due (filled in \(String(format: "%.1f", checker.fillSeconds)) s), batchLimit "
                    + "\(checkerBatch), \(checker.concurrentSends) concurrent sends, rate limit "
                    + "\(Int(checker.rateLimit)) checks/s per group, \(checker.sent) sent in \(checker.passes) passes "
                    + String(format: "%.2f s: %.0f checks/s", checker.seconds, Double(checker.sent) / checker.seconds))
            print(
                String(
                    format: "         CPU %.1f µs/check, %.1f checks per SQLite transaction, peak RSS %.0f MiB",
                    checker.cpuMicrosPerCheck, checker.writesPerSQLiteTransaction, checker.peakResidentMiB))
            print("         CPU µs per check by thread: \(checker.cpuByThread)")
            print("")
        }

        print("limit: SQLite txn/s = a fresh SQLiteExecutor (the store's configuration unless --baseline-synchronous)")
        print("       on the same schema, N loops of one write inserting a transactions row and one write setting")
        print("       it committed, group-committed by the executor as the store's writes are.")
        print("store only = TransactionStateStore.recordPrepared + transaction(id:) + resolve per transaction, as the")
        print("       coordinator calls them, without the commit log (a diagnostic row, not a goal).")
        print("CPU µs/txn = process user+sys time / transactions; the load generator runs in-process, so it is an")
        print("       upper bound on broker CPU.")
        print("peak RSS = the process's resident high-water mark during each case (reset between cases), load")
        print("       generator included.")
        print("goals (anchors.md): half+commit >= 0.50 of SQLite's batched insert+update rate in the same run;")
        print("       1 million pending half messages cost < 10% of send throughput; broker CPU per durable")
        print("       transactional message (half + commit) <= ~79 µs (half of the PostgreSQL outbox's ~158 µs).")
        print("host load average at end: \(Self.loadAverage()) (2 vCPUs shared with other work: absolute figures move)")
    }

    /// The 1, 5 and 15 minute load averages from `/proc/loadavg`, or "unknown".
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    private func runPendingCase(_ bench: TransactionWorkload) async throws {
        let producers = pendingProducers
        let comparison = try await bench.pendingComparison(
            producers: producers, pendingRows: pending, rowsPerWrite: fillRowsPerWrite, slices: pendingSlices)
        let (empty, loaded) = (comparison.empty, comparison.loaded)
        let ratio = loaded.transactionsPerSecond / empty.transactionsPerSecond
        let emptyName = "pending 0 x\(producers)"
        let loadedName = "pending \(pending) x\(producers)"
        print(
            "pending: two stacks open side by side, driven in \(pendingSlices) alternating slices of "
                + String(format: "%.2f s each (limit = the empty table's rate)", seconds / Double(pendingSlices)))
        print(Self.header)
        print(Self.row(emptyName, empty, limit: nil, ratio: nil))
        print(Self.row(loadedName, loaded, limit: empty.transactionsPerSecond, ratio: ratio))
        Self.printThreadBreakdown([pad(emptyName, 31) + empty.cpuByThread, pad(loadedName, 31) + loaded.cpuByThread])
        let fill = comparison.fill
        print(
            String(
                format: "filled %d pending rows in %.1f s (%.0f rows/s, %d per write); database %.0f MiB",
                pending, fill.seconds, Double(pending) / fill.seconds, fillRowsPerWrite, fill.databaseMiB))
        let sorted = comparison.sliceRatios.sorted()
        print(
            "slice pairs, loaded/empty txn/s: "
                + comparison.sliceRatios.map { String(format: "%.2f", $0) }.joined(separator: " ")
                + String(format: " (median %.2f)", sorted[sorted.count / 2]))
        print(
            String(
                format: "one maintenance pass with %d pending (maintain + countsByState + oldestPendingAgeMs,"
                    + " run every second by the broker): %.1f ms on the SQLite thread", pending,
                comparison.maintenanceMs))
        print(
            String(
                format: "%d pending: x%d throughput %.2f of the empty table's (cost %.1f%%; goal < 10%%);"
                    + " CPU per transaction %.2f of the empty table's", pending, producers, ratio, (1 - ratio) * 100,
                loaded.cpuMicrosPerTransaction / empty.cpuMicrosPerTransaction))
    }

    // MARK: printing

    static func printThreadBreakdown(_ lines: [String]) {
        print("where it goes: CPU µs per transaction by thread (swift-pool also runs the load generator);")
        print("               latency of prepare (half) and end (commit) separately:")
        for line in lines { print("  " + line) }
    }

    static let header =
        pad("case", 31) + pad("txn/s", 9) + pad("p50 µs", 9) + pad("p99 µs", 9) + pad("CPU µs/txn", 11)
        + pad("recs/sync", 10) + pad("writes/sqltx", 13) + pad("limit txn/s", 12) + pad("ratio", 7) + "peak RSS MiB"

    static func row(_ name: String, _ result: TransactionCaseResult, limit: Double?, ratio: Double?) -> String {
        pad(name, 31) + pad(String(format: "%.0f", result.transactionsPerSecond), 9) + pad("\(result.p50)", 9)
            + pad("\(result.p99)", 9) + pad(String(format: "%.1f", result.cpuMicrosPerTransaction), 11)
            + pad(result.recordsPerSync.map { String(format: "%.1f", $0) } ?? "-", 10)
            + pad(String(format: "%.1f", result.writesPerSQLiteTransaction), 13)
            + pad(limit.map { String(format: "%.0f", $0) } ?? "-", 12)
            + pad(ratio.map { String(format: "%.2f", $0) } ?? "-", 7) + String(format: "%.0f", result.peakResidentMiB)
    }
}
