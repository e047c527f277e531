import GRPCCore
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
    }

    public func receiveMessage(
        request: ServerRequest<Apache_Rocketmq_V2_ReceiveMessageRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_ReceiveMessageResponse> {
        let clientId = Self.clientId(request.metadata)
        return StreamingServerResponse { writer in
            if let refused = await refusal(request) { try await writer.write(refused); return [:] }
            for response in await receiveResponses(request.message, clientId: clientId) {
                try await writer.write(response)
            }
            return [:]
        }
    }

    /// The responses of one receive, in the order the reference proxy writes them: the status,
    /// then the messages, then the delivery time.
    func receiveResponses(_ request: Apache_Rocketmq_V2_ReceiveMessageRequest, clientId: String) async
        -> [Apache_Rocketmq_V2_ReceiveMessageResponse]
    {
        var head = Apache_Rocketmq_V2_ReceiveMessageResponse()
        do throws(ProtocolRefusal) {
            let (ask, engine) = try await validatedReceive(request)
            let deliveries = try await longPoll(ask, engine: engine, clientId: clientId)
            if deliveries.isEmpty {
                head.status = Status(
                    .messageNotFound,
                    "no message for group \(ask.group.name) in topic \(ask.topic.name) within the long-polling time")
                return [head]
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
            return responses
        } catch {
            head.status = error.status
            return [head]
        }
    }

    func validatedReceive(_ request: Apache_Rocketmq_V2_ReceiveMessageRequest) async throws(ProtocolRefusal)
        -> (ReceiveAsk, ConsumptionEngine)
    {
        let engine = try consumptionEngine()
        let topic = try await existingTopic(request.messageQueue.topic.name)
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
            invisibleMs = WireMessage.milliseconds(request.invisibleDuration)
            guard Self.invisibleRangeMs.contains(invisibleMs) else {
                throw ProtocolRefusal(
                    .illegalInvisibleTime, "invisible_duration must be 1 s to 12 h; got \(invisibleMs) ms")
            }
        }
        let longPollingMs = request.hasLongPollingTimeout ? WireMessage.milliseconds(request.longPollingTimeout) : 0
        guard longPollingMs >= 0 else {
            throw ProtocolRefusal(.illegalPollingTime, "long_polling_timeout must not be negative; got \(longPollingMs) ms")
        }
        let group = try await consumerGroup(request.group.name, engine: engine)
        let firstQueue = UInt32(max(0, Int(request.messageQueue.id)) % topic.queueCount)
        let ask = ReceiveAsk(
            group: group, topic: topic, filter: filter, batch: min(Int(request.batchSize), Self.maxBatchSize),
            invisibleMs: invisibleMs, longPollingMs: min(longPollingMs, Self.maxLongPollingMs), firstQueue: firstQueue,
            autoRenew: request.autoRenew)
        return (ask, engine)
    }

    /// Claims messages, waiting up to the long-polling time for some to arrive or fall due.
    func longPoll(_ ask: ReceiveAsk, engine: ConsumptionEngine, clientId: String) async throws(ProtocolRefusal)
        -> [Delivery]
    {
        let deadline = ContinuousClock.now + .milliseconds(ask.longPollingMs)
        while true {
            let deliveries: [Delivery]
            do throws(BrokerError) {
                deliveries = try await engine.receive(
                    group: ask.group, topic: ask.topic, batch: ask.batch, invisibleMs: ask.invisibleMs,
                    filter: ask.filter, clientId: clientId, firstQueue: ask.firstQueue, autoRenew: ask.autoRenew)
            } catch {
                throw ProtocolRefusal(error)
            }
            let now = ContinuousClock.now
            if !deliveries.isEmpty || now >= deadline || Task.isCancelled { return deliveries }
            var wakeAt = deadline
            if let dueMs = await engine.nextDueMs(group: ask.group.name, topic: ask.topic.name) {
                wakeAt = min(wakeAt, now + .milliseconds(max(0, dueMs - WallClock.nowMs())))
            }
            await engine.waiters.wait(group: ask.group.name, topic: ask.topic.name, until: wakeAt)
        }
    }

    func wireMessage(_ delivery: Delivery, ask: ReceiveAsk, engine: ConsumptionEngine) -> Apache_Rocketmq_V2_Message {
        var message = WireMessage.message(from: delivery.record, topic: ask.topic.name)
        message.systemProperties.receiptHandle = engine.encode(delivery.handle, group: ask.group.name, topic: ask.topic.name)
        message.systemProperties.deliveryAttempt = Int32(clamping: delivery.attempt)
        message.systemProperties.invisibleDuration = Google_Protobuf_Duration(
            seconds: ask.invisibleMs / 1000, nanos: Int32((ask.invisibleMs % 1000) * 1_000_000))
        return message
    }

    static func filter(_ expression: Apache_Rocketmq_V2_FilterExpression, hasFilter: Bool) throws(ProtocolRefusal)
        -> TagFilter
    {
        guard hasFilter else { return .all }
        switch expression.type {
        case .sql:
            throw ProtocolRefusal(
                .illegalFilterExpression, "SQL92 filters are not supported by Sluice; use a tag expression such as 'a || b'")
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
    func consumerGroup(_ name: String, engine: ConsumptionEngine) async throws(ProtocolRefusal) -> ConsumerGroup {
        if name.isEmpty { throw ProtocolRefusal(.illegalConsumerGroup, "the consumer group name is empty") }
        do throws(BrokerError) {
            return try await engine.groupForConsumer(name)
        } catch {
            throw ProtocolRefusal(error.code == .invalidArgument ? .illegalConsumerGroup : .consumerGroupNotFound, error.message)
        }
    }
}
