import GRPCCore
import Logging
import SluiceBroker
import SluiceStorage
import SluiceWire
import SwiftProtobuf

extension MessagingService {
    /// The invisible time the broker picks for auto-renewing (push) consumers.
    static let autoRenewInvisibleMs: Int64 = 60_000
    static let invisibleRangeMs: ClosedRange<Int64> = 1000...(12 * 3600 * 1000)
    static let maxLongPollingMs: Int64 = 60_000
    static let maxBatchSize = 1024

    /// What a validated ReceiveMessage asks for.
    struct ReceiveAsk {
        var group: ConsumerGroup
        var topic: TopicDefinition
        var filter: TagFilter
        var batch: Int
        var invisibleMs: Int64
        var longPollingMs: Int64
        var firstQueue: UInt32
        /// A push consumer: the broker picks the invisible time and renews it while the client lives.
        var autoRenew: Bool
        /// The topic is a dead-letter queue this broker group does not have (yet): with several
        /// broker groups its route names every group's (see `deadLetterQueues`).
        var deadLettersElsewhere = false
    }

    public func receiveMessage(
        request: ServerRequest<Apache_Rocketmq_V2_ReceiveMessageRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_ReceiveMessageResponse> {
        let clientId = Self.clientId(request.metadata)
        return StreamingServerResponse { writer in
            if let refused = await refusal(request) { try await writer.write(refused); return [:] }
            let outcome = await receiveOutcome(request.message, clientId: clientId)
            // All responses leave in one write and one flush. If the stream is gone before the
            // last one is taken, every claimed message becomes visible again at once (as
            // RocketMQ's proxy does): one the client did get is then delivered again, never lost.
            do {
                try Task.checkCancellation()
                try await writer.write(contentsOf: outcome.responses)
            } catch {
                await releaseClaimed(outcome)
                throw error
            }
            return [:]
        }
    }

    /// What one receive answers, and what it claimed to do so.
    struct ReceiveOutcome {
        var responses: [Apache_Rocketmq_V2_ReceiveMessageResponse]
        var claimed: (ask: ReceiveAsk, engine: ConsumptionEngine, deliveries: [Delivery])?
    }

    /// The responses of one receive, in the order the reference proxy writes them: the status,
    /// then the messages, then the delivery time.
    func receiveOutcome(_ request: Apache_Rocketmq_V2_ReceiveMessageRequest, clientId: String) async -> ReceiveOutcome {
        var head = Apache_Rocketmq_V2_ReceiveMessageResponse()
        do throws(ProtocolRefusal) {
            try WireCheck.clientId(clientId)
            let (ask, engine) = try await validatedReceive(request)
            let deliveries = try await longPoll(ask, engine: engine, clientId: clientId)
            if deliveries.isEmpty {
                head.status = Status(
                    .messageNotFound,
                    "no message for group \(ask.group.name) in topic \(ask.topic.name) within the long-polling time")
                return ReceiveOutcome(responses: [head], claimed: nil)
            }
            head.status = .ok
            var responses = [head]
            for delivery in deliveries {
                var message = Apache_Rocketmq_V2_ReceiveMessageResponse()
                message.message = wireMessage(delivery, ask: ask, engine: engine)
                responses.append(message)
            }
            var time = Apache_Rocketmq_V2_ReceiveMessageResponse()
            time.deliveryTimestamp = WireMessage.timestamp(ms: WallClock.nowMs())
            responses.append(time)
            return ReceiveOutcome(responses: responses, claimed: (ask, engine, deliveries))
        } catch {
            head.status = error.status
            RefusalMetric.shared.count(head.status, rpc: "ReceiveMessage")
            return ReceiveOutcome(responses: [head], claimed: nil)
        }
    }

    /// The receive was cancelled or its responses could not all be written: every message it
    /// claimed becomes visible again now instead of at the end of its invisible time (RocketMQ's
    /// proxy does the same). The responses leave in one write, so which of them reached the
    /// consumer is unknown; one that did is delivered again (its old handle is then stale), none
    /// is lost. A message whose write succeeded may still be lost with the connection; it comes
    /// back when its invisible time ends.
    func releaseClaimed(_ outcome: ReceiveOutcome) async {
        guard let claimed = outcome.claimed else { return }
        let deliveries = claimed.deliveries
        if deliveries.isEmpty { return }
        do throws(BrokerError) {
            try await claimed.engine.release(
                group: claimed.ask.group.name, topic: claimed.ask.topic.name, deliveries: deliveries)
        } catch {
            logger.warning(
                "cannot release the messages of a failed receive", metadata: ["error": "\(error)", "count": "\(deliveries.count)"])
        }
    }

    func validatedReceive(_ request: Apache_Rocketmq_V2_ReceiveMessageRequest) async throws(ProtocolRefusal)
        -> (ReceiveAsk, ConsumptionEngine)
    {
        let engine = try consumptionEngine()
        try WireCheck.groupName(request.group.name)
        let name = request.messageQueue.topic.name
        let deadLettersElsewhere = try isSpreadDeadLetterTopic(name) && engine.deadLetterTopic(named: name) == nil
        let topic: TopicDefinition
        if deadLettersElsewhere {
            topic = Self.spreadDeadLetterDefinition(name)
        } else {
            topic = try await existingTopic(name)
        }
        let filter = try Self.filter(request.filterExpression, hasFilter: request.hasFilterExpression)
        guard request.batchSize > 0 else {
            throw ProtocolRefusal(.badRequest, "batch_size must be at least 1; got \(request.batchSize)")
        }
        let invisibleMs: Int64
        if request.autoRenew {
            invisibleMs = Self.autoRenewInvisibleMs
        } else {
            guard request.hasInvisibleDuration else {
                throw ProtocolRefusal(.illegalInvisibleTime, "invisible_duration is required when auto_renew is off")
            }
            invisibleMs = try WireTime.milliseconds(
                request.invisibleDuration, field: "invisible_duration", code: .illegalInvisibleTime)
            guard Self.invisibleRangeMs.contains(invisibleMs) else {
                throw ProtocolRefusal(
                    .illegalInvisibleTime, "invisible_duration must be 1 s to 12 h; got \(invisibleMs) ms")
            }
        }
        let longPollingMs = try Self.longPollingMs(request.longPollingTimeout, present: request.hasLongPollingTimeout)
        let group = try await consumerGroup(request.group.name, engine: engine)
        // The queue named is only where the scan starts; any id (negative, past the end) is fine.
        let firstQueue = UInt32(Int(request.messageQueue.id).magnitude % UInt(max(1, topic.queueCount)))
        let ask = ReceiveAsk(
            group: group, topic: topic, filter: filter, batch: min(Int(request.batchSize), Self.maxBatchSize),
            invisibleMs: invisibleMs, longPollingMs: longPollingMs, firstQueue: firstQueue,
            autoRenew: request.autoRenew, deadLettersElsewhere: deadLettersElsewhere)
        return (ask, engine)
    }

    /// A long-polling timeout: 0 (absent) up to 60 s; longer ones are cut to 60 s, as the
    /// reference proxy does; negative or malformed ones are ILLEGAL_POLLING_TIME.
    static func longPollingMs(_ timeout: Google_Protobuf_Duration, present: Bool) throws(ProtocolRefusal) -> Int64 {
        guard present else { return 0 }
        let ms = try WireTime.milliseconds(timeout, field: "long_polling_timeout", code: .illegalPollingTime)
        guard ms >= 0 else {
            throw ProtocolRefusal(.illegalPollingTime, "long_polling_timeout must not be negative; got \(ms) ms")
        }
        return min(ms, Self.maxLongPollingMs)
    }

    /// Claims messages, waiting up to the long-polling time for some to arrive or fall due.
    func longPoll(_ ask: ReceiveAsk, engine: ConsumptionEngine, clientId: String) async throws(ProtocolRefusal)
        -> [Delivery]
    {
        let deadline = ContinuousClock.now + .milliseconds(ask.longPollingMs)
        var ask = ask
        while true {
            // A cancelled call claims nothing (the receive below would have to hand it back).
            if Task.isCancelled { return [] }
            if ask.deadLettersElsewhere {
                // Nothing is made for the name: the receive waits as for an empty queue, woken
                // by the first dead letter appended here (its group's queue then exists).
                if let appeared = engine.deadLetterTopic(named: ask.topic.name) {
                    ask.topic = appeared
                    ask.deadLettersElsewhere = false
                    continue
                }
                if ContinuousClock.now >= deadline { return [] }
                guard await engine.waiters.wait(group: ask.group.name, topic: ask.topic.name, until: deadline) else {
                    throw Self.longPollsExhausted(engine)
                }
                continue
            }
            let deliveries: [Delivery]
            var filter = ask.filter
            if ask.topic.messageType == .lite {
                // Read at every attempt: a subscription made while this receive waits counts.
                filter.liteTopics = handle.lite?.liteTopics(group: ask.group.name, topic: ask.topic.name) ?? []
            }
            do throws(BrokerError) {
                deliveries = try await engine.receive(
                    group: ask.group, topic: ask.topic, batch: ask.batch, invisibleMs: ask.invisibleMs,
                    filter: filter, clientId: clientId, firstQueue: ask.firstQueue, autoRenew: ask.autoRenew)
            } catch {
                throw ProtocolRefusal(error)
            }
            let now = ContinuousClock.now
            if !deliveries.isEmpty || now >= deadline || Task.isCancelled { return deliveries }
            var wakeAt = deadline
            if let dueMs = await engine.nextDueMs(group: ask.group.name, topic: ask.topic.name) {
                // Both non-negative when subtracted (the guard), so no overflow.
                let nowMs = WallClock.nowMs()
                wakeAt = min(wakeAt, now + .milliseconds(dueMs > nowMs ? dueMs - nowMs : 0))
            }
            guard await engine.waiters.wait(group: ask.group.name, topic: ask.topic.name, until: wakeAt) else {
                throw Self.longPollsExhausted(engine)
            }
        }
    }

    /// The refusal when `--max-long-polls` receives are parked already.
    static func longPollsExhausted(_ engine: ConsumptionEngine) -> ProtocolRefusal {
        ProtocolRefusal(
            .tooManyRequests,
            "\(engine.waiters.parkedLimit) receives are already waiting for messages (--max-long-polls); "
                + "retry later or with a shorter long_polling_timeout")
    }

    func wireMessage(_ delivery: Delivery, ask: ReceiveAsk, engine: ConsumptionEngine) -> Apache_Rocketmq_V2_Message {
        WireMessage.message(from: delivery.record, topic: ask.topic.name) { system in
            system.receiptHandle = engine.encode(delivery.handle, group: ask.group.name, topic: ask.topic.name)
            system.deliveryAttempt = Int32(clamping: delivery.attempt)
            system.invisibleDuration = WireTime.duration(ms: ask.invisibleMs)
        }
    }

    static func filter(_ expression: Apache_Rocketmq_V2_FilterExpression, hasFilter: Bool) throws(ProtocolRefusal)
        -> TagFilter
    {
        guard hasFilter else { return .all }
        try WireCheck.length(
            expression.expression, atMost: WireLimits.filterExpressionBytes, field: "filter_expression.expression",
            code: .illegalFilterExpression)
        switch expression.type {
        case .sql:
            do throws(BrokerError) {
                return TagFilter(sql: try SQLFilter(expression.expression))
            } catch {
                throw ProtocolRefusal(.illegalFilterExpression, error.message)
            }
        case .tag, .unspecified:
            do throws(BrokerError) {
                return try TagFilter(expression: expression.expression)
            } catch {
                throw ProtocolRefusal(.illegalFilterExpression, error.message)
            }
        default:
            throw ProtocolRefusal(.illegalFilterExpression, "filter type \(expression.type) is not supported")
        }
    }

    func consumptionEngine() throws(ProtocolRefusal) -> ConsumptionEngine {
        guard let engine = handle.consumption else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        return engine
    }

    /// The named group (created with defaults on first use unless the broker forbids it).
    ///
    /// - Throws: ILLEGAL_CONSUMER_GROUP for a bad name, CONSUMER_GROUP_NOT_FOUND when groups are
    ///   not created on first use, TOO_MANY_REQUESTS when `--max-groups` is reached.
    func consumerGroup(_ name: String, engine: ConsumptionEngine) async throws(ProtocolRefusal) -> ConsumerGroup {
        try WireCheck.groupName(name)
        do throws(BrokerError) {
            return try await engine.groupForConsumer(name)
        } catch {
            switch error.code {
            case .invalidArgument: throw ProtocolRefusal(.illegalConsumerGroup, error.message)
            case .limitExceeded: throw ProtocolRefusal(.tooManyRequests, error.message)
            case .groupNotFound: throw ProtocolRefusal(.consumerGroupNotFound, error.message)
            default: throw ProtocolRefusal(error)
            }
        }
    }
}
