import GRPCCore
import Synchronization
import Logging
import Metrics
import SluiceWire

extension ClientRuntime {
    /// Keeps one Telemetry stream open until cancelled: sends settings first (and again every
    /// `settingsResyncInterval`, which also tells the broker the client is alive), hands
    /// check-back commands to `onCheckBack`, and reopens the stream with exponential backoff
    /// when it ends or fails.
    func runTelemetry() async {
        var backoff = configuration.reconnectBackoffInitial
        while !Task.isCancelled {
            let startedAt = ContinuousClock.now
            do {
                try await openTelemetryStream()
                logger.info("telemetry stream ended by the broker; reconnecting")
            } catch {
                if Task.isCancelled { return }
                logger.info("telemetry stream failed; reconnecting", metadata: ["error": "\(error)"])
            }
            // A stream that lived a while was healthy: start the backoff over.
            if ContinuousClock.now - startedAt > .seconds(30) { backoff = configuration.reconnectBackoffInitial }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                return
            }
            backoff = min(backoff * 2, configuration.reconnectBackoffMax)
            ClientMetrics.telemetryReconnects.increment()
        }
    }

    /// Settings re-sync period on an open stream (the official clients use 300 s; shorter here so
    /// topics added after start-up reach the broker sooner).
    static let settingsResyncInterval: Duration = .seconds(30)

    private func openTelemetryStream() async throws {
        var options = callOptions(timeout: .seconds(365 * 24 * 3600))
        options.waitForReady = true
        try await stub.telemetry(
            metadata: metadata, options: options,
            requestProducer: { writer in
                while true {
                    try await writer.write(self.settingsCommand())
                    try await Task.sleep(for: Self.settingsResyncInterval)
                }
            },
            onResponse: { response in
                for try await command in response.messages {
                    await self.handle(command)
                }
            })
    }

    private func handle(_ command: Apache_Rocketmq_V2_TelemetryCommand) async {
        switch command.command {
        case .settings:
            if command.status.code == .ok {
                markSettingsReceived()
            } else {
                logger.warning(
                    "broker refused this client's settings",
                    metadata: ["code": "\(command.status.code)", "reason": "\(command.status.message)"])
            }
        case .recoverOrphanedTransactionCommand(let check):
            guard let onCheckBack else {
                logger.warning(
                    "check-back received but no transaction checker is registered",
                    metadata: ["txn.id": "\(check.transactionID)"])
                return
            }
            // One check at a time, like the official clients; the broker paces its checks.
            await onCheckBack(self, check)
        default:
            logger.debug("telemetry command ignored", metadata: ["command": "\(String(describing: command.command))"])
        }
    }

    /// Heartbeats every `heartbeatInterval` and refreshes cached routes every `routeRefreshInterval`,
    /// until cancelled.
    func runMaintenance() async {
        var sinceRouteRefresh: Duration = .zero
        while !Task.isCancelled {
            await heartbeat()
            if sinceRouteRefresh >= configuration.routeRefreshInterval {
                sinceRouteRefresh = .zero
                await refreshRoutes()
            }
            do {
                try await Task.sleep(for: configuration.heartbeatInterval)
            } catch {
                return
            }
            sinceRouteRefresh += configuration.heartbeatInterval
        }
    }

    func heartbeat() async {
        var request = Apache_Rocketmq_V2_HeartbeatRequest()
        request.clientType = role.wireType
        if let group = role.group { request.group = WireMessage.resource(group, namespace: configuration.namespace) }
        do {
            let response = try await rpc("Heartbeat") {
                try await stub.heartbeat(request, metadata: metadata, options: callOptions())
            }
            try check(response.status, "heartbeat")
        } catch {
            logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
        }
    }
}
