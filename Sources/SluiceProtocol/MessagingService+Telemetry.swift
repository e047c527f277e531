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
        let (outbound, continuation) = AsyncStream.makeStream(of: Apache_Rocketmq_V2_TelemetryCommand.self)
        let streamID = sessions.open(clientId: clientId, outbound: continuation)
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
                        sessions.update(clientId: clientId, settings: settings)
                        continuation.yield(reply(to: settings))
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

    /// The broker's settings for a client, echoing what it sent plus the broker's limits.
    func reply(to settings: Apache_Rocketmq_V2_Settings) -> Apache_Rocketmq_V2_TelemetryCommand {
        var answer = settings
        if case .publishing(var publishing) = settings.pubSub {
            publishing.maxBodySize = Int32(configuration.maxBodyBytes)
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
            if !subscription.hasLongPollingTimeout {
                subscription.longPollingTimeout = Google_Protobuf_Duration(seconds: 20, nanos: 0)
            }
            answer.subscription = subscription
            // Push consumers nack with these delays and dead-letter FIFO messages after the attempts.
            var backoff = Apache_Rocketmq_V2_RetryPolicy()
            backoff.maxAttempts = Int32(group.maxDeliveryAttempts)
            var customized = Apache_Rocketmq_V2_CustomizedBackoff()
            customized.next = group.retryDelaysMs.map {
                Google_Protobuf_Duration(seconds: $0 / 1000, nanos: Int32(($0 % 1000) * 1_000_000))
            }
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
