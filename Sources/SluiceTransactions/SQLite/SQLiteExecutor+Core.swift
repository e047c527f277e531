import Dispatch
import Metrics
import Synchronization

extension SQLiteExecutor {
    /// The state shared between callers and the executor thread: the job queue, the closed flag
    /// and the counters. The thread holds the core, not the executor, so dropping the last
    /// reference to an executor still shuts its thread down.
    final class Core: Sendable {
        private struct State {
            var jobs: [Job] = []
            var isClosed = false
        }

        private let state = Mutex(State())
        private let wakeup = DispatchSemaphore(value: 0)
        private let committedTransactions = Atomic<Int>(0)
        private let committedWrites = Atomic<Int>(0)
        private let transactionCounter: Counter
        private let batchSizeRecorder: Recorder

        init(metricsLabel: String) {
            let dimensions = [("database", metricsLabel)]
            transactionCounter = Counter(label: "sluice_sqlite_write_transactions_total", dimensions: dimensions)
            batchSizeRecorder = Recorder(label: "sluice_sqlite_write_batch_size", dimensions: dimensions)
        }

        /// Queues `job` unless the executor is closed; returns whether it was queued.
        func enqueue(_ job: Job) -> Bool {
            let queued = state.withLock { state in
                guard !state.isClosed else { return false }
                state.jobs.append(job)
                if case .close = job {
                    state.isClosed = true
                }
                return true
            }
            if queued {
                wakeup.signal()
            }
            return queued
        }

        /// Blocks the executor thread until at least one job is queued, then takes all of them.
        func waitForJobs() -> [Job] {
            while true {
                wakeup.wait()
                let jobs = state.withLock { state in
                    let jobs = state.jobs
                    state.jobs.removeAll(keepingCapacity: true)
                    return jobs
                }
                if !jobs.isEmpty {
                    return jobs
                }
            }
        }

        /// Marks the executor closed without queueing a close job (the connection never opened).
        func markClosed() {
            state.withLock { $0.isClosed = true }
        }

        /// Counts a committed batch transaction.
        func recordCommit(writes: Int, batchSize: Int) {
            committedTransactions.add(1, ordering: .relaxed)
            committedWrites.add(writes, ordering: .relaxed)
            transactionCounter.increment()
            batchSizeRecorder.record(batchSize)
        }

        var committedTransactionCount: Int {
            committedTransactions.load(ordering: .relaxed)
        }

        var committedWriteCount: Int {
            committedWrites.load(ordering: .relaxed)
        }

        var queuedJobCount: Int {
            state.withLock { $0.jobs.count }
        }

        var isClosed: Bool {
            state.withLock { $0.isClosed }
        }
    }
}
