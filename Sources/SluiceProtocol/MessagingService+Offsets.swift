import GRPCCore
import SluiceBroker
import SluiceStorage
import SluiceWire

/// QueryAssignment (push consumers), the offset RPCs and PullMessage (pull consumers).
extension MessagingService {
    public func queryAssignment(
        request: ServerRequest<Apache_Rocketmq_V2_QueryAssignmentRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_QueryAssignmentResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("QueryAssignment", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            _ = try await consumerGroup(request.message.group.name, engine: engine)
            try Self.checkEndpoints(request.message.endpoints)
            var routeRequest = Apache_Rocketmq_V2_QueryRouteRequest()
            routeRequest.topic = request.message.topic
            routeRequest.endpoints = request.message.endpoints
            // The topic's route: every queue here, or, for a topic the route table spreads over
            // broker groups, each queue at its group's leader, so a push consumer receives from
            // every group. A receive pops across all of a broker's queues anyway.
            response.assignments = try await route(for: routeRequest).map { queue in
                var assignment = Apache_Rocketmq_V2_Assignment()
                assignment.messageQueue = queue
                return assignment
            }
        }
    }

    public func queryOffset(
        request: ServerRequest<Apache_Rocketmq_V2_QueryOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_QueryOffsetResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("QueryOffset", request.metadata, Self.needs(request.message))
            let engine = try consumptionEngine()
            let (_, queue) = try await existingQueue(request.message.messageQueue)
            switch request.message.queryOffsetPolicy {
            case .beginning:
                response.offset = Int64(clamping: engine.log.queueBounds(queue).min)
            case .end:
                response.offset = Int64(clamping: engine.log.queueBounds(queue).next)
            case .timestamp:
                guard request.message.hasTimestamp else {
                    throw ProtocolRefusal(.badRequest, "query_offset_policy TIMESTAMP needs a timestamp")
                }
                let timestampMs = try WireTime.milliseconds(request.message.timestamp, field: "timestamp", code: .badRequest)
                response.offset = Int64(clamping: engine.log.queueOffset(queue, atOrAfterTimestampMs: timestampMs))
            default:
                throw ProtocolRefusal(.badRequest, "unknown query_offset_policy \(request.message.queryOffsetPolicy)")
            }
        }
    }

    public func getOffset(
        request: ServerRequest<Apache_Rocketmq_V2_GetOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_GetOffsetResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("GetOffset", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let group = try await consumerGroup(request.message.group.name, engine: engine)
            let (topic, queue) = try await existingQueue(request.message.messageQueue)
            let offset = try await refusing { () async throws(BrokerError) in
                try await engine.committedOffset(group: group, topic: topic, queueId: queue.queueId)
            }
            response.offset = Int64(clamping: offset)
        }
    }

    public func updateOffset(
        request: ServerRequest<Apache_Rocketmq_V2_UpdateOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_UpdateOffsetResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("UpdateOffset", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let group = try await consumerGroup(request.message.group.name, engine: engine)
            let (topic, queue) = try await existingQueue(request.message.messageQueue)
            let bounds = engine.log.queueBounds(queue)
            guard request.message.offset >= 0, UInt64(request.message.offset) <= bounds.next else {
                throw ProtocolRefusal(
                    .illegalOffset, "offset \(request.message.offset) is outside queue \(queue) (0 to \(bounds.next))")
            }
            try await refusing { () async throws(BrokerError) in
                try await engine.resetOffset(group: group, topic: topic, queueId: queue.queueId, to: UInt64(request.message.offset))
            }
        }
    }

    public func pullMessage(
        request: ServerRequest<Apache_Rocketmq_V2_PullMessageRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_PullMessageResponse> {
        StreamingServerResponse { writer in
            if let refused = await refusal(request) { try await writer.write(refused); return [:] }
            var responses: [Apache_Rocketmq_V2_PullMessageResponse] = []
            var head = Apache_Rocketmq_V2_PullMessageResponse()
            do throws(ProtocolRefusal) {
                let (records, nextOffset) = try await pull(request.message)
                head.status = records.isEmpty
                    ? Status(.messageNotFound, "no message at or after offset \(request.message.offset)") : .ok
                responses.append(head)
                for record in records {
                    var message = Apache_Rocketmq_V2_PullMessageResponse()
                    message.message = WireMessage.message(from: record, topic: request.message.messageQueue.topic.name)
                    responses.append(message)
                }
                var next = Apache_Rocketmq_V2_PullMessageResponse()
                next.nextOffset = Int64(clamping: nextOffset)
                responses.append(next)
            } catch {
                head.status = error.status
                RefusalMetric.shared.count(head.status, rpc: "PullMessage")
                responses = [head]
            }
            for response in responses { try await writer.write(response) }
            return [:]
        }
    }

    /// Reads up to `batch_size` matching messages from `offset`, long-polling when there are none.
    private func pull(_ request: Apache_Rocketmq_V2_PullMessageRequest) async throws(ProtocolRefusal)
        -> ([StoredRecord], UInt64)
    {
        let engine = try consumptionEngine()
        let group = try await consumerGroup(request.group.name, engine: engine)
        let (_, queue) = try await existingQueue(request.messageQueue)
        let filter = try Self.filter(request.filterExpression, hasFilter: request.hasFilterExpression)
        guard request.batchSize > 0 else { throw ProtocolRefusal(.badRequest, "batch_size must be at least 1") }
        guard request.offset >= 0 else { throw ProtocolRefusal(.illegalOffset, "offset must not be negative") }
        let waitMs = try Self.longPollingMs(request.longPollingTimeout, present: request.hasLongPollingTimeout)
        let deadline = ContinuousClock.now + .milliseconds(waitMs)
        while true {
            let bounds = engine.log.queueBounds(queue)
            if UInt64(request.offset) > bounds.next {
                throw ProtocolRefusal(.illegalOffset, "offset \(request.offset) is beyond the end of \(queue) (\(bounds.next))")
            }
            var offset = max(UInt64(request.offset), bounds.min)
            var records: [StoredRecord] = []
            let limit = min(Int(request.batchSize), Self.maxBatchSize)
            scan: while records.count < limit, offset < bounds.next {
                let entries = engine.log.consumableEntries(queue, from: offset, maxCount: 256)
                if entries.isEmpty { break }
                for entry in entries {
                    offset = entry.queueOffset + 1
                    guard !entry.isLost, filter.mayMatch(tagHash: entry.tagHash),
                        let record = try? engine.log.read(entry, of: queue), filter.matches(record.message)
                    else { continue }
                    records.append(record)
                    if records.count >= limit { break scan }
                }
            }
            if !records.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return (records, offset) }
            guard await engine.waiters.wait(group: "\u{1}pull:" + group.name, topic: queue.topic, until: deadline) else {
                throw Self.longPollsExhausted(engine)
            }
        }
    }

    /// The topic and queue a request names.
    func existingQueue(_ messageQueue: Apache_Rocketmq_V2_MessageQueue) async throws(ProtocolRefusal)
        -> (TopicDefinition, QueueID)
    {
        let topic = try await existingTopic(messageQueue.topic.name)
        guard messageQueue.id >= 0, Int(messageQueue.id) < topic.queueCount else {
            throw ProtocolRefusal(
                .badRequest,
                "message_queue.id is \(messageQueue.id); topic \(topic.name) has queues 0 to \(topic.queueCount - 1)")
        }
        return (topic, QueueID(topic: topic.name, queueId: UInt32(messageQueue.id)))
    }
}
