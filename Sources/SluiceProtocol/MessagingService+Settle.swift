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
            guard request.message.entries.count <= WireLimits.ackEntries else {
                throw ProtocolRefusal(
                    .badRequest,
                    "an ack has \(request.message.entries.count) entries; the limit is \(WireLimits.ackEntries)")
            }
            let clientId = Self.clientId(request.metadata)
            try WireCheck.clientId(clientId)
            // Entries with malformed fields are refused one by one; the rest are acknowledged in
            // one write (one SQLite transaction for the whole request).
            var checks: [ProtocolRefusal?] = []
            var valid: [ConsumptionEngine.AckEntry] = []
            for entry in request.message.entries {
                do throws(ProtocolRefusal) {
                    try WireCheck.receiptHandle(entry.receiptHandle)
                    try WireCheck.messageId(entry.messageID)
                    checks.append(nil)
                    valid.append(ConsumptionEngine.AckEntry(messageId: entry.messageID, receiptHandle: entry.receiptHandle))
                } catch {
                    checks.append(error)
                }
            }
            var outcomes = valid.isEmpty ? [] : await engine.ack(group: group, topic: topic, entries: valid, clientId: clientId)
            outcomes.reverse()
            for (entry, check) in zip(request.message.entries, checks) {
                var result = Apache_Rocketmq_V2_AckMessageResultEntry()
                // Echoed back only when within limits (a refusal never mirrors a huge field).
                if entry.messageID.utf8.count <= WireLimits.messageIdBytes { result.messageID = entry.messageID }
                if entry.receiptHandle.utf8.count <= WireLimits.receiptHandleBytes {
                    result.receiptHandle = entry.receiptHandle
                }
                let refusal: ProtocolRefusal?
                if let check {
                    refusal = check
                } else if case .failure(let error)? = outcomes.popLast() {
                    refusal = ProtocolRefusal(error)
                } else {
                    refusal = nil
                }
                if let refusal {
                    result.status = Status(refusal.code, "message \(WireCheck.shown(entry.messageID)): \(refusal.message)")
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
        if request.message.receiptHandle.utf8.count <= WireLimits.receiptHandleBytes {
            echo.receiptHandle = request.message.receiptHandle
        }
        return await answer(echo) { response throws(ProtocolRefusal) in
            try await authorize("ChangeInvisibleDuration", request.metadata, Self.consuming(request.message))
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            try WireCheck.receiptHandle(request.message.receiptHandle)
            try WireCheck.messageId(request.message.messageID)
            let clientId = Self.clientId(request.metadata)
            try WireCheck.clientId(clientId)
            let invisibleMs = try WireTime.milliseconds(
                request.message.invisibleDuration, field: "invisible_duration", code: .illegalInvisibleTime)
            guard (0...Self.invisibleRangeMs.upperBound).contains(invisibleMs) else {
                throw ProtocolRefusal(.illegalInvisibleTime, "invisible_duration must be 0 to 12 h; got \(invisibleMs) ms")
            }
            response.receiptHandle = try await refusing { () async throws(BrokerError) in
                try await engine.changeInvisibleDuration(
                    group: group, topic: topic, receiptHandle: request.message.receiptHandle, invisibleMs: invisibleMs,
                    messageId: request.message.messageID, clientId: clientId)
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
            try WireCheck.receiptHandle(request.message.receiptHandle)
            try await refusing { () async throws(BrokerError) in
                try await engine.forwardToDeadLetter(group: group, topic: topic, receiptHandle: request.message.receiptHandle)
            }
        }
    }

    static func groupAndTopic(_ group: Apache_Rocketmq_V2_Resource, _ topic: Apache_Rocketmq_V2_Resource)
        throws(ProtocolRefusal) -> (String, String)
    {
        try WireCheck.groupName(group.name)
        try WireCheck.topicName(topic.name)
        return (group.name, topic.name)
    }
}
