import Foundation
import Histogram
import Logging
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// What one timed case measured.
struct TransactionCaseResult {
    var transactionsPerSecond: Double
    var p50: Int
    var p99: Int
    /// Process user+sys CPU time divided by transactions (load generator included).
    var cpuMicrosPerTransaction: Double
    /// Commit-log records per `fdatasync`; nil when no log is involved.
    var recordsPerSync: Double?
    /// Writes per SQLite transaction: how well the executor's group commit batched.
    var writesPerSQLiteTransaction: Double
    var peakResidentMiB: Double
    /// CPU µs per transaction by thread role, e.g. "swift-pool 120, sqlite 80".
    var cpuByThread: String
}

/// The benchmark's cases, each on its own fresh folder under `directory`.
struct TransactionWorkload {
    let directory: String
    let bodySize: Int
    let seconds: Double
    let segmentMiB: Int

    var logger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        return logger
    }

    /// `producers` loops of prepare → end(commit) through a real coordinator on a commit log with
    /// sync flush and the store's default SQLite configuration, for `seconds`.
    func halfCommit(producers: Int, label: String) async throws -> TransactionCaseResult {
        CasePeakMemory.reset()
        let stack = try await BenchStack.open(folder: "\(directory)/\(label)", workload: self)
        do {
            let measured = try await stack.drive(producers: producers, for: seconds, bodySize: bodySize)
            try await stack.close()
            return measured.result()
        } catch {
            try? await stack.close()
            throw error
        }
    }

    /// What the pending comparison measured.
    struct PendingComparison {
        var empty: TransactionCaseResult
        var loaded: TransactionCaseResult
        var fill: TransactionTable.FillReport
        /// Throughput ratio (loaded / empty) of each pair of adjacent slices.
        var sliceRatios: [Double]
        /// One maintenance pass on the loaded table, after the timed part.
        var maintenanceMs: Double
    }

    /// Half + commit on two stacks open side by side, one with an empty table and one whose table
    /// holds `pendingRows` prepared rows (no log records behind them), driven in alternating
    /// slices of `seconds / slices` each: the machine's drift hits both alike.
    func pendingComparison(
        producers: Int, pendingRows: Int, rowsPerWrite: Int, slices: Int
    ) async throws -> PendingComparison {
        CasePeakMemory.reset()
        let loadedFolder = "\(directory)/pending-\(pendingRows)"
        try? FileManager.default.removeItem(atPath: loadedFolder)
        try FileManager.default.createDirectory(atPath: loadedFolder, withIntermediateDirectories: true)
        // Not due during the run: the checker's partial index holds them, as in a real backlog.
        let fill = try await TransactionTable.fill(
            path: loadedFolder + "/transactions.sqlite", rows: pendingRows, rowsPerWrite: rowsPerWrite,
            firstNextCheckAtMs: WallClock.nowMs() + 3_600_000)
        // On a shared machine two identical stacks still differ: A/A runs (`--pending 1`) gave whole-run
        // ratios from 1.00 to 1.19 with the disk fast, and 0.38 to 1.40 while its syncs were throttled.
        let loaded = try await BenchStack.open(folder: loadedFolder, workload: self, keepExisting: true)
        let empty: BenchStack
        do {
            empty = try await BenchStack.open(folder: "\(directory)/pending-0", workload: self)
        } catch {
            try? await loaded.close()
            throw error
        }
        do {
            let slice = seconds / Double(max(1, slices))
            var emptyTotal = DriveMeasurement()
            var loadedTotal = DriveMeasurement()
            var ratios: [Double] = []
            for index in 0..<max(1, slices) {
                // Alternate which goes first, so neither always follows the other.
                let order = index % 2 == 0 ? [false, true] : [true, false]
                var pair: [Bool: DriveMeasurement] = [:]
                for isLoaded in order {
                    pair[isLoaded] = try await (isLoaded ? loaded : empty).drive(
                        producers: producers, for: slice, bodySize: bodySize)
                }
                emptyTotal.add(pair[false]!)
                loadedTotal.add(pair[true]!)
                ratios.append(pair[true]!.transactionsPerSecond / pair[false]!.transactionsPerSecond)
            }
            // What TransactionMaintenanceService does every second; after the timed part so its
            // full scan does not warm the cache for the run.
            let begin = ContinuousClock.now
            await loaded.coordinator.maintain()
            _ = try await loaded.store.countsByState()
            _ = try await loaded.store.oldestPendingAgeMs(now: WallClock.nowMs())
            let maintenanceMs = microseconds(since: begin) / 1_000
            try await loaded.close()
            try await empty.close()
            return PendingComparison(
                empty: emptyTotal.result(), loaded: loadedTotal.result(), fill: fill, sliceRatios: ratios,
                maintenanceMs: maintenanceMs)
        } catch {
            try? await loaded.close()
            try? await empty.close()
            throw error
        }
    }
}

/// A commit log (sync flush, `segmentMiB` segments), the transaction store on the same folder and
/// a coordinator, as the broker composes them; removed from disk on close.
struct BenchStack {
    let folder: String
    let log: CommitLog
    let store: TransactionStateStore
    let coordinator: TransactionCoordinator
    /// The threads the log and the store started, by role.
    let roles: [Int: String]

    /// - Parameter keepExisting: keep what `folder` holds (a prefilled database) instead of
    ///   starting empty.
    static func open(folder: String, workload: TransactionWorkload, keepExisting: Bool = false) async throws
        -> BenchStack
    {
        if !keepExisting { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let logger = workload.logger
        var configuration = CommitLogConfiguration(directory: folder)
        configuration.segmentSizeBytes = workload.segmentMiB << 20
        configuration.flush = .sync
        // The log starts its writer (recovery and scrubber threads end early); the store its executor.
        var roles: [Int: String] = [:]
        let log = try await ThreadCPUSnapshot.labelling("log-writer", into: &roles) {
            try await CommitLog.open(configuration, logger: logger)
        }
        let store: TransactionStateStore
        do {
            store = try await ThreadCPUSnapshot.labelling("sqlite", into: &roles) {
                try await TransactionStateStore.open(
                    path: folder + "/transactions.sqlite", now: WallClock.nowMs(), logger: logger)
            }
        } catch {
            await log.close()
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
        let coordinator = TransactionCoordinator(log: log, store: store, logger: logger, nowMs: { WallClock.nowMs() })
        let stack = BenchStack(folder: folder, log: log, store: store, coordinator: coordinator, roles: roles)
        do {
            _ = try await coordinator.reconcile()
        } catch {
            try? await stack.close()
            throw error
        }
        return stack
    }

    func close() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await log.close()
        try await store.close()
    }

    /// `producers` loops of prepare → end(commit) for `duration` seconds (calls in flight at the
    /// end finish and count).
    func drive(producers: Int, for duration: Double, bodySize: Int) async throws -> DriveMeasurement {
        let body = ByteBuffer(repeating: 0x61, count: bodySize)
        let coordinator = coordinator
        let threadsBefore = ThreadCPUSnapshot.take()
        let cpuBefore = processCPUSeconds()
        let logBefore = log.statistics
        let sqlBefore = store.committedTransactionCount
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(duration * 1000))
        let tally = try await withThrowingTaskGroup(of: ProducerTally.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var tally = ProducerTally()
                    let clientId = "bench-client-\(producer)"
                    while ContinuousClock.now < deadline {
                        let begin = ContinuousClock.now
                        let half = HalfMessage(
                            message: MessageRecord(
                                topic: "bench", queueId: UInt32(producer % 8), tags: "t",
                                keys: ["k\(producer)-\(tally.transactions)"], body: body,
                                bornTimestampMs: WallClock.nowMs()),
                            producerGroup: "bench-group", clientId: clientId)
                        let prepared = try await coordinator.prepare(half)
                        let halfDone = ContinuousClock.now
                        let outcome = try await coordinator.end(
                            transactionId: prepared.transactionId, resolution: .commit, source: .producer,
                            actor: clientId)
                        guard outcome == .applied, prepared.isNew else {
                            throw BenchmarkFailure(
                                "transaction \(prepared.transactionId): \(outcome), new \(prepared.isNew)")
                        }
                        let end = ContinuousClock.now
                        tally.whole.record(UInt64((end - begin) / .microseconds(1)))
                        tally.prepare.record(UInt64((halfDone - begin) / .microseconds(1)))
                        tally.end.record(UInt64((end - halfDone) / .microseconds(1)))
                        tally.transactions += 1
                    }
                    return tally
                }
            }
            var all = ProducerTally()
            for try await tally in group { all.merge(tally) }
            return all
        }
        let logAfter = log.statistics
        return DriveMeasurement(
            tally: tally, seconds: microseconds(since: started) / 1e6, cpuSeconds: processCPUSeconds() - cpuBefore,
            threads: ThreadCPUSnapshot.take().spent(since: threadsBefore, roles: roles),
            logRecords: logAfter.records - logBefore.records, logSyncs: logAfter.syncs - logBefore.syncs,
            sqlTransactions: store.committedTransactionCount - sqlBefore)
    }
}

/// What driving a coordinator measured; slices add up.
struct DriveMeasurement {
    var tally = ProducerTally()
    var seconds = 0.0
    var cpuSeconds = 0.0
    var threads: [String: Double] = [:]
    var logRecords = 0
    var logSyncs = 0
    var sqlTransactions = 0

    var transactionsPerSecond: Double { Double(tally.transactions) / max(seconds, 1e-9) }

    mutating func add(_ other: DriveMeasurement) {
        tally.merge(other.tally)
        seconds += other.seconds
        cpuSeconds += other.cpuSeconds
        threads.merge(other.threads, uniquingKeysWith: +)
        logRecords += other.logRecords
        logSyncs += other.logSyncs
        sqlTransactions += other.sqlTransactions
    }

    func result() -> TransactionCaseResult {
        let transactions = max(1, tally.transactions)
        let (prepare, end) = (tally.prepare, tally.end)
        let phases =
            "prepare p50/p99 \(prepare.valueAtPercentile(50))/\(prepare.valueAtPercentile(99)) µs, "
            + "end \(end.valueAtPercentile(50))/\(end.valueAtPercentile(99)) µs"
        return TransactionCaseResult(
            transactionsPerSecond: transactionsPerSecond,
            p50: Int(tally.whole.valueAtPercentile(50)), p99: Int(tally.whole.valueAtPercentile(99)),
            cpuMicrosPerTransaction: cpuSeconds * 1e6 / Double(transactions),
            recordsPerSync: Double(logRecords) / Double(max(1, logSyncs)),
            // recordPrepared and resolve: two writes per transaction.
            writesPerSQLiteTransaction: Double(2 * transactions) / Double(max(1, sqlTransactions)),
            peakResidentMiB: CasePeakMemory.peakMiB(),
            cpuByThread: ThreadCPUSnapshot.describe(threads, per: transactions) + "; " + phases)
    }
}

/// What `measureLoops` saw.
struct LoopMeasurement {
    var tally: ProducerTally
    var seconds: Double
    var cpuSeconds: Double
    var threads: [String: Double]

    func result(writesPerSQLiteTransaction: Double) -> TransactionCaseResult {
        let transactions = max(1, tally.transactions)
        return TransactionCaseResult(
            transactionsPerSecond: Double(transactions) / seconds,
            p50: Int(tally.whole.valueAtPercentile(50)), p99: Int(tally.whole.valueAtPercentile(99)),
            cpuMicrosPerTransaction: cpuSeconds * 1e6 / Double(transactions), recordsPerSync: nil,
            writesPerSQLiteTransaction: writesPerSQLiteTransaction, peakResidentMiB: CasePeakMemory.peakMiB(),
            cpuByThread: ThreadCPUSnapshot.describe(threads, per: transactions))
    }
}

extension TransactionWorkload {
    /// Runs `workers` loops of `body(worker, sequence)` until the case's time is up, timing each
    /// call as one transaction.
    func measureLoops(
        workers: Int, roles: [Int: String], _ body: @escaping @Sendable (Int, Int) async throws -> Void
    ) async throws -> LoopMeasurement {
        let threadsBefore = ThreadCPUSnapshot.take()
        let cpuBefore = processCPUSeconds()
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        let tally = try await withThrowingTaskGroup(of: ProducerTally.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var tally = ProducerTally()
                    while ContinuousClock.now < deadline {
                        let begin = ContinuousClock.now
                        try await body(worker, tally.transactions)
                        tally.whole.record(UInt64((ContinuousClock.now - begin) / .microseconds(1)))
                        tally.transactions += 1
                    }
                    return tally
                }
            }
            var all = ProducerTally()
            for try await tally in group { all.merge(tally) }
            return all
        }
        let seconds = microseconds(since: started) / 1e6
        return LoopMeasurement(
            tally: tally, seconds: seconds, cpuSeconds: processCPUSeconds() - cpuBefore,
            threads: ThreadCPUSnapshot.take().spent(since: threadsBefore, roles: roles))
    }
}

/// One producer's latencies (µs) and count; merged across producers at the end.
struct ProducerTally {
    var whole = Self.histogram(.three)
    // Two digits for the phases: each three-digit histogram up to 60 s takes about 140 KiB, and
    // 256 producers would otherwise hold 100 MiB of them.
    var prepare = Self.histogram(.two)
    var end = Self.histogram(.two)
    var transactions = 0

    static func histogram(_ digits: SignificantDigits) -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: digits)
    }

    mutating func merge(_ other: ProducerTally) {
        whole.add(other.whole)
        prepare.add(other.prepare)
        end.add(other.end)
        transactions += other.transactions
    }
}

/// A benchmark step that did not go as the benchmark assumes.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// User plus system CPU time of the whole process so far (`getrusage(RUSAGE_SELF)`), in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func microseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
}
