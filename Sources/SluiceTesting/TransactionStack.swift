import Logging
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// The broker's transaction stack on one data folder, as the transaction crash child and its parent
/// open it (small files, frequent checkpoints).
public struct TransactionStack: Sendable {
    public let log: CommitLog
    public let store: TransactionStateStore
    public let coordinator: TransactionCoordinator
    /// The trace recorder, when opened with `traced`; nothing runs it: call `drain()`.
    public var trace: MessageTraceRecorder? { coordinator.trace }

    public static func open(_ directory: String, traced: Bool = false) async throws -> TransactionStack {
        var configuration = CommitLogConfiguration(directory: directory)
        configuration.segmentSizeBytes = 256 * 1024
        configuration.queueIndexEntriesPerFile = 4096
        configuration.keyIndexEntriesPerFile = 16384
        configuration.checkpointInterval = .milliseconds(50)
        var logger = Logger(label: "txn-crash")
        logger.logLevel = .critical
        let log = try await CommitLog.open(configuration, logger: logger)
        let store = try await TransactionStateStore.open(path: directory + "/transactions.sqlite", now: WallClock.nowMs())
        let trace = traced ? MessageTraceRecorder(log: log, logger: logger) : nil
        let coordinator = TransactionCoordinator(
            log: log, store: store, logger: logger, nowMs: { WallClock.nowMs() }, trace: trace)
        _ = try await coordinator.reconcile()
        return TransactionStack(log: log, store: store, coordinator: coordinator)
    }
}
