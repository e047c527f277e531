import Foundation
import SluiceStorage
import SluiceTransactions
import Synchronization

/// What the checker case measured.
struct CheckerDispatchResult {
    var due: Int
    var sent: Int
    var passes: Int
    var seconds: Double
    var fillSeconds: Double
    var cpuMicrosPerCheck: Double
    var writesPerSQLiteTransaction: Double
    var concurrentSends: Int
    var rateLimit: Double
    /// CPU µs per check by thread role.
    var cpuByThread: String
    var peakResidentMiB: Double
}

/// A check-back sender that delivers nothing and counts: what remains is the checker's own cost.
final class CountingCheckSender: CheckBackSender {
    private let sent = Atomic<Int>(0)

    var count: Int { sent.load(ordering: .relaxed) }

    func sendCheck(_ check: TransactionCheck, to clientId: String) async -> Bool {
        sent.add(1, ordering: .relaxed)
        return true
    }
}

/// Every client that sent a half message is connected.
struct EveryClientLive: ProducerDirectory {
    func isLive(clientId: String) -> Bool { true }
    func liveClients(producerGroup: String, topic: String) -> [String] { [] }
}

extension TransactionWorkload {
    /// A fresh store holding `due` prepared transactions whose first check is overdue; passes of
    /// `TransactionChecker.runOnce()` until every one was sent a check.
    func checkerDispatch(due: Int, batchLimit: Int) async throws -> CheckerDispatchResult {
        let folder = "\(directory)/checker"
        CasePeakMemory.reset()
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/transactions.sqlite"
        let fill = try await TransactionTable.fill(
            path: path, rows: due, rowsPerWrite: 10_000, firstNextCheckAtMs: WallClock.nowMs() - Int64(due) - 1_000)
        var roles: [Int: String] = [:]
        let store = try await ThreadCPUSnapshot.labelling("sqlite", into: &roles) {
            try await TransactionStateStore.open(path: path, now: WallClock.nowMs(), logger: logger)
        }
        let sender = CountingCheckSender()
        let rateLimit = CheckRateLimit(checksPerSecond: 100_000_000)
        let configuration = TransactionCheckerConfiguration(batchLimit: batchLimit, producerGroupRateLimit: rateLimit)
        let result: CheckerDispatchResult
        do {
            let checker = try TransactionChecker(
                store: store, sender: sender, directory: EveryClientLive(), configuration: configuration, logger: logger
            )
            let sqlBefore = store.committedTransactionCount
            let threadsBefore = ThreadCPUSnapshot.take()
            let cpuBefore = processCPUSeconds()
            let started = ContinuousClock.now
            let giveUp = started + .seconds(600)
            var passes = 0
            while sender.count < due {
                let report = await checker.runOnce()
                passes += 1
                guard report.storageErrors == 0 else {
                    throw BenchmarkFailure("checker pass \(passes) had \(report.storageErrors) storage errors")
                }
                guard report.due > 0 else { break }
                guard ContinuousClock.now < giveUp else {
                    throw BenchmarkFailure("checker sent \(sender.count) of \(due) checks in 600 s")
                }
            }
            let seconds = microseconds(since: started) / 1e6
            let cpuSeconds = processCPUSeconds() - cpuBefore
            let threadsSpent = ThreadCPUSnapshot.take().spent(since: threadsBefore, roles: roles)
            let sent = sender.count
            let sqlTransactions = max(1, store.committedTransactionCount - sqlBefore)
            guard sent == due else {
                throw BenchmarkFailure("checker sent \(sent) checks for \(due) due transactions")
            }
            result = CheckerDispatchResult(
                due: due, sent: sent, passes: passes, seconds: seconds, fillSeconds: fill.seconds,
                cpuMicrosPerCheck: cpuSeconds * 1e6 / Double(max(1, sent)),
                // One markCheckSent write per check; nothing is postponed here.
                writesPerSQLiteTransaction: Double(sent) / Double(sqlTransactions),
                concurrentSends: configuration.maximumConcurrentSends, rateLimit: rateLimit.checksPerSecond,
                cpuByThread: ThreadCPUSnapshot.describe(threadsSpent, per: sent),
                peakResidentMiB: CasePeakMemory.peakMiB())
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        return result
    }
}
