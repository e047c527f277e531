import GRPCCore
import SluiceBroker
import SluiceWire

/// Ack, ChangeInvisibleDuration and ForwardMessageToDeadLetterQueue: what a consumer says about a
/// message it received, named by its receipt handle.
extension MessagingService {
    public func ackMessage(
        request: ServerRequest<Apache_Rocketmq_V2_AckMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_AckMessageResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("AckMessage", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            guard !request.message.entries.isEmpty else {
                throw ProtocolRefusal(.badRequest, "an ack needs at least one entry (message id and receipt handle)")
            }
            for entry in request.message.entries {
                var result = Apache_Rocketmq_V2_AckMessageResultEntry()
                result.messageID = entry.messageID
                result.receiptHandle = entry.receiptHandle
                do throws(ProtocolRefusal) {
                    try await refusing { () async throws(BrokerError) in
                        try await engine.ack(
                            group: group, topic: topic, receiptHandle: entry.receiptHandle, messageId: entry.messageID,
                            clientId: Self.clientId(request.metadata))
                    }
                    result.status = .ok
                } catch {
                    result.status = Status(error.code, "message \(entry.messageID): \(error.message)")
                    // The Python client reads only the top-level status: the first failure goes there.
                    if response.status.code == .ok { response.status = result.status }
                }
                response.entries.append(result)
            }
        }
    }

    public func changeInvisibleDuration(
        request: ServerRequest<Apache_Rocketmq_V2_ChangeInvisibleDurationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ChangeInvisibleDurationResponse> {
        // The client copies the handle before it looks at the status: never leave it empty.
        var echo = Apache_Rocketmq_V2_ChangeInvisibleDurationResponse()
        echo.receiptHandle = request.message.receiptHandle
        return await answer(echo) { response throws(ProtocolRefusal) in
            try await authorize("ChangeInvisibleDuration", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            let invisibleMs = WireMessage.milliseconds(request.message.invisibleDuration)
            guard (0...Self.invisibleRangeMs.upperBound).contains(invisibleMs) else {
                throw ProtocolRefusal(.illegalInvisibleTime, "invisible_duration must be 0 to 12 h; got \(invisibleMs) ms")
            }
            response.receiptHandle = try await refusing { () async throws(BrokerError) in
                try await engine.changeInvisibleDuration(
                    group: group, topic: topic, receiptHandle: request.message.receiptHandle, invisibleMs: invisibleMs,
                    messageId: request.message.messageID, clientId: Self.clientId(request.metadata))
            }
        }
    }

    public func forwardMessageToDeadLetterQueue(
        request: ServerRequest<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse> {
        await answer { _ throws(ProtocolRefusal) in
            try await authorize("ForwardMessageToDeadLetterQueue", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            try await refusing { () async throws(BrokerError) in
                try await engine.forwardToDeadLetter(group: group, topic: topic, receiptHandle: request.message.receiptHandle)
            }
        }
    }

    static func groupAndTopic(_ group: Apache_Rocketmq_V2_Resource, _ topic: Apache_Rocketmq_V2_Resource)
        throws(ProtocolRefusal) -> (String, String)
    {
        if group.name.isEmpty { throw ProtocolRefusal(.illegalConsumerGroup, "the consumer group name is empty") }
        if topic.name.isEmpty { throw ProtocolRefusal(.illegalTopic, "the topic name is empty") }
        return (group.name, topic.name)
    }
}
