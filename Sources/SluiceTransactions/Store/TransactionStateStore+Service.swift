import ServiceLifecycle

/// The store as a long-running service of the broker's `ServiceGroup`.
///
/// The store is opened (and migrated) before the group starts, so the broker never listens on a
/// database it cannot use. `run()` then waits for graceful shutdown (or cancellation) and closes
/// the store, after the services started later (checker, gRPC) have stopped.
extension TransactionStateStore: Service {
    public func run() async throws {
        // Cancellation ends the wait too; either way the queued work is drained by close().
        try? await gracefulShutdown()
        try await close()
    }
}
