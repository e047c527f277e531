import Logging
import Metrics
import ServiceLifecycle
import SluiceTransactions

/// Every `interval`: persists the applied-event watermark, catches the table up with resolutions
/// it missed, refreshes the retention pin, and publishes the half-message gauges
/// (`sluice_half_messages{state}`, `sluice_half_message_oldest_age_seconds`).
public struct TransactionMaintenanceService: Service {
    let coordinator: TransactionCoordinator
    let interval: Duration
    let clock: any Clock<Duration>

    public init(coordinator: TransactionCoordinator, interval: Duration = .seconds(1), clock: any Clock<Duration> = ContinuousClock()) {
        self.coordinator = coordinator
        self.interval = interval
        self.clock = clock
    }

    public func run() async throws {
        let gauges = Dictionary(
            uniqueKeysWithValues: TransactionState.allCases.map {
                ($0, Gauge(label: "sluice_half_messages", dimensions: [("state", $0.rawValue)]))
            })
        let oldest = Gauge(label: "sluice_half_message_oldest_age_seconds")
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await coordinator.maintain()
            if let counts = try? await coordinator.store.countsByState() {
                for (state, gauge) in gauges { gauge.record(counts[state] ?? 0) }
            }
            if let age = try? await coordinator.store.oldestPendingAgeMs(now: coordinator.nowMs()) {
                oldest.record(Double(age ?? 0) / 1000)
            }
            let clock = clock
            let interval = interval
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval, tolerance: nil) }
        }
        await coordinator.maintain()
    }
}
