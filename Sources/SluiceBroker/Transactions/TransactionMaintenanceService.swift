import Logging
import Metrics
import ServiceLifecycle
import SluiceTransactions

/// Every `flushInterval`: writes half messages held in memory past their delay to the table and,
/// on a replicated group's follower, applies the transaction events copied since (§15).
/// Every `interval`: persists the applied-event watermark, catches the table up with resolutions
/// it missed and refreshes the retention pin. Every `gaugeInterval`: publishes the half-message
/// gauges (`sluice_half_messages{state}`, `sluice_half_message_oldest_age_seconds`) — less often,
/// because counting every row by state takes ~140 ms on the SQLite thread with a million rows.
public struct TransactionMaintenanceService: Service {
    let coordinator: TransactionCoordinator
    let interval: Duration
    let flushInterval: Duration
    let gaugeInterval: Duration
    let clock: any Clock<Duration>

    public init(
        coordinator: TransactionCoordinator, interval: Duration = .seconds(1), flushInterval: Duration = .milliseconds(100),
        gaugeInterval: Duration = .seconds(15), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.coordinator = coordinator
        self.interval = interval
        self.flushInterval = min(flushInterval, interval)
        self.gaugeInterval = gaugeInterval
        self.clock = clock
    }

    public func run() async throws {
        let gauges = Dictionary(
            uniqueKeysWithValues: TransactionState.allCases.map {
                ($0, Gauge(label: "sluice_half_messages", dimensions: [("state", $0.rawValue)]))
            })
        let oldest = Gauge(label: "sluice_half_message_oldest_age_seconds")
        var lastGauges: ContinuousClock.Instant?
        var lastMaintenance: ContinuousClock.Instant?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await coordinator.flushDeferredHalves()
            await applyCopiedEvents()
            if let last = lastMaintenance, ContinuousClock.now - last < interval {
                try? await sleep()
                continue
            }
            lastMaintenance = ContinuousClock.now
            await coordinator.maintain()
            if let last = lastGauges, ContinuousClock.now - last < gaugeInterval {
                try? await sleep()
                continue
            }
            lastGauges = ContinuousClock.now
            if let counts = try? await coordinator.store.countsByState() {
                for (state, gauge) in gauges { gauge.record(counts[state] ?? 0) }
            }
            if let age = try? await coordinator.store.oldestPendingAgeMs(now: coordinator.nowMs()) {
                oldest.record(Double(age ?? 0) / 1000)
            }
            try? await sleep()
        }
        await coordinator.flushDeferredHalves(all: true)
        await coordinator.maintain()
    }

    /// A replicated group's follower: the table follows the copied log within a tick.
    private func applyCopiedEvents() async {
        do throws(BrokerError) {
            try await coordinator.applyCopiedEvents()
        } catch {
            coordinator.logger.warning("cannot apply copied transaction events", metadata: ["error": "\(error)"])
        }
    }

    private func sleep() async throws {
        let clock = clock
        let interval = flushInterval
        try await cancelWhenGracefulShutdown { try await clock.sleep(for: interval, tolerance: nil) }
    }
}
