import Logging
import ServiceLifecycle
import Synchronization

extension TransactionChecker: Service {
    /// Runs passes until graceful shutdown or cancellation.
    ///
    /// After a pass that read a full batch (and made progress), the next starts at once;
    /// otherwise the loop waits `pollInterval` on the injected clock, or until `wake()`. On
    /// graceful shutdown the pass in progress finishes its sends and the loop returns.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            while !isStopping.load(ordering: .acquiring), !Task.isCancelled {
                let report = await runOnce()
                if report.due == configuration.batchLimit, report.storageErrors == 0,
                    report.alreadyInFlight < report.due
                {
                    await Task.yield()
                    continue
                }
                await idle()
            }
        } onCancelOrGracefulShutdown: {
            self.isStopping.store(true, ordering: .releasing)
            self.wakeup.signal()
        }
        logger.debug("transaction checker stopped")
    }

    /// Waits `pollInterval` or until woken, whichever comes first.
    private func idle() async {
        let clock = clock
        let pollInterval = configuration.pollInterval
        let wakeup = wakeup
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(for: pollInterval) }
            group.addTask { await wakeup.wait() }
            await group.next()
            group.cancelAll()
        }
    }
}
