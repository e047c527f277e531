import SluiceTransactions

/// A checker wired to fakes: a manual clock starting at `epochMs`, a recording sender, a
/// directory where `client-1` (group `checkout`) is connected, and a recording budget handler
/// that parks.
struct CheckerHarness {
    var store: TransactionStateStore
    var clock: ManualClock
    var sender: FakeCheckBackSender
    var directory: FakeProducerDirectory
    var budget: RecordingBudgetHandler
    var checker: TransactionChecker

    /// Milliseconds since the Unix epoch at the manual clock's time.
    var nowMs: Int64 { clock.wallClockMs() }

    /// Moves the manual clock to `epochMs + offsetMs` (never backwards).
    func advance(toOffsetMs offsetMs: Int64) {
        let delta = epochMs + offsetMs - nowMs
        precondition(delta >= 0, "the manual clock cannot go back")
        clock.advance(by: .milliseconds(delta))
    }
}

extension TransactionCheckerConfiguration {
    /// The defaults, without a rate limit (tests that need one set it).
    static var unlimited: TransactionCheckerConfiguration {
        var configuration = TransactionCheckerConfiguration()
        configuration.producerGroupRateLimit = nil
        return configuration
    }
}

/// Runs `body` with a fresh store and a checker over fakes (see `CheckerHarness`).
func withChecker<T>(
    configuration: TransactionCheckerConfiguration = .unlimited,
    storeConfiguration: TransactionStoreConfiguration = TransactionStoreConfiguration(),
    metricsFactory: RecordingMetricsFactory = RecordingMetricsFactory(),
    _ body: (CheckerHarness) async throws -> T
) async throws -> T {
    try await withStore(configuration: storeConfiguration) { store in
        let clock = ManualClock(startMs: epochMs)
        let sender = FakeCheckBackSender()
        let directory = FakeProducerDirectory()
        directory.connect("client-1")
        let budget = RecordingBudgetHandler(store: store, wallClockMs: clock.wallClockMs)
        let checker = try TransactionChecker(
            store: store, sender: sender, directory: directory, budgetHandler: budget,
            configuration: configuration, clock: clock, wallClockMs: clock.wallClockMs,
            metricsFactory: metricsFactory)
        return try await body(
            CheckerHarness(
                store: store, clock: clock, sender: sender, directory: directory, budget: budget, checker: checker))
    }
}
