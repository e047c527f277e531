import GRPCCore
import Logging
import SluiceBroker
import SluiceWire
import SwiftProtobuf

extension MessagingService {
    /// One client's Telemetry stream: answers each settings command with the broker's settings
    /// (status OK, or the client ignores them) and keeps the stream open for server-pushed
    /// commands (check-backs) until the client closes it. A newer stream of the same client
    /// replaces this one.
    func runTelemetry(
        clientId: String, caller: TelemetryAccess = TelemetryAccess(),
        inbound: RPCAsyncSequence<Apache_Rocketmq_V2_TelemetryCommand, any Error>,
        writer: RPCWriter<Apache_Rocketmq_V2_TelemetryCommand>
    ) async throws {
        if let refusal = Self.telemetryRefusal(clientId: clientId) {
            RefusalMetric.shared.count(refusal.status, rpc: "Telemetry")
            try await writer.write(Self.statusCommand(refusal.status))
            return
        }
        // Bounded: a client that does not read its stream cannot grow the broker's memory. Past
        // the bound new commands are dropped (`push` reports a check-back as not sent, and the
        // checker asks again later).
        let (outbound, continuation) = AsyncStream.makeStream(
            of: Apache_Rocketmq_V2_TelemetryCommand.self,
            bufferingPolicy: .bufferingOldest(WireLimits.telemetryOutboundCommands))
        guard let streamID = sessions.open(clientId: clientId, outbound: continuation) else {
            let refusal = Status(
                .tooManyRequests,
                "\(sessions.maxClients) clients are connected already (--max-clients); retry later")
            RefusalMetric.shared.count(refusal, rpc: "Telemetry")
            try await writer.write(Self.statusCommand(refusal))
            return
        }
        defer {
            sessions.close(clientId: clientId, streamID: streamID)
            continuation.finish()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await command in outbound { try await writer.write(command) }
            }
            do {
                for try await command in inbound {
                    if case .settings(let settings) = command.command {
                        if let refused = await refusal(of: settings, by: caller, clientId: clientId) {
                            continuation.yield(refused)
                            continue
                        }
                        do throws(ProtocolRefusal) {
                            try Self.checkSettings(settings)
                            sessions.update(clientId: clientId, settings: settings)
                            // Before the reply: a client that waits for it (the official
                            // PushConsumer and the Swift consumers do at startup) is subscribed,
                            // its start position fixed, once it runs.
                            await subscribe(settings)
                            continuation.yield(reply(to: settings))
                        } catch {
                            RefusalMetric.shared.count(error.status, rpc: "Telemetry")
                            continuation.yield(Self.statusCommand(error.status))
                        }
                    }
                    // Thread-stack and verify-message results are not asked for; ignore them.
                }
            } catch {
                logger.debug("telemetry stream ended with an error", metadata: ["client": "\(clientId)", "error": "\(error)"])
            }
            continuation.finish()
            try await group.waitForAll()
        }
    }

    /// Why a Telemetry stream cannot be opened at all, if it cannot: a missing or oversized client
    /// id (check-backs are routed by it).
    static func telemetryRefusal(clientId: String) -> ProtocolRefusal? {
        if clientId.isEmpty {
            return ProtocolRefusal(.clientIDRequired, "a Telemetry stream needs the x-mq-client-id header")
        }
        do throws(ProtocolRefusal) {
            try WireCheck.clientId(clientId)
        } catch {
            return error
        }
        return nil
    }

    static func statusCommand(_ status: Status) -> Apache_Rocketmq_V2_TelemetryCommand {
        var command = Apache_Rocketmq_V2_TelemetryCommand()
        command.status = status
        return command
    }

    /// What a settings command may carry: a bounded list of valid topic names for a publisher, a
    /// valid group for a subscriber, durations within protobuf's range. The reply echoes the
    /// settings, so nothing huge is mirrored back either.
    static func checkSettings(_ settings: Apache_Rocketmq_V2_Settings) throws(ProtocolRefusal) {
        switch settings.pubSub {
        case .publishing(let publishing):
            if publishing.topics.count > WireLimits.settingsTopics {
                throw ProtocolRefusal(
                    .badRequest,
                    "settings.publishing.topics has \(publishing.topics.count) topics; the limit is \(WireLimits.settingsTopics)")
            }
            for topic in publishing.topics { try WireCheck.topicName(topic.name, field: "settings.publishing topic") }
        case .subscription(let subscription):
            try WireCheck.groupName(subscription.group.name)
            if subscription.subscriptions.count > WireLimits.settingsTopics {
                throw ProtocolRefusal(
                    .badRequest,
                    "settings.subscription.subscriptions has \(subscription.subscriptions.count) entries; the limit is "
                        + "\(WireLimits.settingsTopics)")
            }
            for entry in subscription.subscriptions {
                try WireCheck.topicName(entry.topic.name, field: "settings.subscription topic")
                try WireCheck.length(
                    entry.expression.expression, atMost: WireLimits.filterExpressionBytes,
                    field: "settings.subscription expression", code: .illegalFilterExpression)
            }
            if subscription.hasLongPollingTimeout {
                _ = try WireTime.milliseconds(
                    subscription.longPollingTimeout, field: "settings.subscription.long_polling_timeout",
                    code: .illegalPollingTime)
            }
        case nil:
            break
        }
        if settings.hasRequestTimeout {
            _ = try WireTime.milliseconds(settings.requestTimeout, field: "settings.request_timeout", code: .badRequest)
        }
        for (value, field) in [
            (settings.userAgent.version, "version"), (settings.userAgent.platform, "platform"),
            (settings.userAgent.hostname, "hostname"),
        ] {
            try WireCheck.length(value, atMost: WireLimits.hostBytes, field: "settings.user_agent.\(field)", code: .badRequest)
        }
        if settings.accessPoint.addresses.count > WireLimits.endpointAddresses {
            throw ProtocolRefusal(
                .illegalAccessPoint,
                "settings.access_point has \(settings.accessPoint.addresses.count) addresses; the limit is "
                    + "\(WireLimits.endpointAddresses)")
        }
    }

    /// The broker's settings for a client, echoing what it sent plus the broker's limits.
    func reply(to settings: Apache_Rocketmq_V2_Settings) -> Apache_Rocketmq_V2_TelemetryCommand {
        var answer = settings
        if case .publishing(var publishing) = settings.pubSub {
            publishing.maxBodySize = Int32(clamping: configuration.maxBodyBytes)
            publishing.validateMessageType = true
            answer.publishing = publishing
            var backoff = Apache_Rocketmq_V2_RetryPolicy()
            backoff.maxAttempts = 3
            var exponential = Apache_Rocketmq_V2_ExponentialBackoff()
            exponential.initial = Google_Protobuf_Duration(seconds: 0, nanos: 10_000_000)
            exponential.max = Google_Protobuf_Duration(seconds: 1, nanos: 0)
            exponential.multiplier = 2
            backoff.exponentialBackoff = exponential
            answer.backoffPolicy = backoff
        }
        if case .subscription(var subscription) = settings.pubSub {
            let group = handle.consumption?.group(named: subscription.group.name)
                ?? ConsumerGroup(name: subscription.group.name, createdAtMs: 0)
            subscription.fifo = group.fifo
            subscription.receiveBatchSize = 32
            // Lite consumers read their limits here (a LitePushConsumer cannot subscribe a
            // lite topic before it has them).
            subscription.liteSubscriptionQuota = Int32(clamping: handle.lite?.quotaPerGroup ?? LiteSubscriptions.defaultQuotaPerGroup)
            subscription.maxLiteTopicSize = Int32(MessageProperty.liteTopicMaxLength)
            if !subscription.hasLongPollingTimeout {
                subscription.longPollingTimeout = Google_Protobuf_Duration(seconds: 20, nanos: 0)
            }
            answer.subscription = subscription
            // Push consumers nack with these delays and dead-letter FIFO messages after the attempts.
            var backoff = Apache_Rocketmq_V2_RetryPolicy()
            backoff.maxAttempts = Int32(clamping: group.maxDeliveryAttempts)
            var customized = Apache_Rocketmq_V2_CustomizedBackoff()
            customized.next = group.retryDelaysMs.map(WireTime.duration(ms:))
            backoff.customizedBackoff = customized
            answer.backoffPolicy = backoff
        }
        answer.metric.on = false
        var command = Apache_Rocketmq_V2_TelemetryCommand()
        command.status = .ok
        command.settings = answer
        return command
    }
}
