import Logging
import ServiceLifecycle
import SluiceStorage

/// Owns the commit log for the life of the process: opens (and so recovers) it, reports readiness,
/// and on graceful shutdown closes it, which drains appends, syncs and removes the `abort` marker.
///
/// Put it first in the `ServiceGroup`: groups stop services in reverse order, so listeners stop
/// before the log is flushed and closed.
public final class StoreService: Service, CustomStringConvertible {
    public let readiness: Readiness
    private let configuration: CommitLogConfiguration
    private let logger: Logger

    public init(configuration: CommitLogConfiguration, readiness: Readiness, logger: Logger) {
        self.configuration = configuration
        self.readiness = readiness
        self.logger = logger
    }

    public var description: String { "StoreService" }

    /// - Throws: `BrokerError` `.storageUnavailable` when the log cannot be opened (another
    ///   process holds the folder, or it cannot be read or written).
    public func run() async throws {
        let log: CommitLog
        do throws(StorageError) {
            log = try await CommitLog.open(configuration, logger: logger)
        } catch {
            readiness.markFailed(error.message)
            throw Self.brokerError(for: error)
        }
        readiness.markReady(RecoveryFacts(log.recoveryReport))
        // Cancellation (the group giving up on a graceful stop) must still close the log, so the
        // error from `gracefulShutdown()` only ends the wait.
        try? await gracefulShutdown()
        readiness.markStopping()
        await log.close()
    }

    static func brokerError(for error: StorageError) -> BrokerError {
        var message = "cannot open the commit log: \(error.message)"
        if error.code == .dataDirectoryLocked {
            message += "; stop the other broker or choose another --data-dir"
        }
        return BrokerError(.storageUnavailable, message, cause: error)
    }
}
