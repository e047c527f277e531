import GRPCCore
import SluiceBroker
import SluiceWire

extension Apache_Rocketmq_V2_RecallMessageResponse: StatusResponse {}

extension MessagingService {
    /// RecallMessage (RocketMQ 5.3): cancels a DELAY message before its delivery time with the
    /// `recall_handle` its send returned; the message is then never delivered to any group.
    ///
    /// Answers OK with the message id; BAD_REQUEST for a handle this broker did not issue for the
    /// topic (forged, altered, another topic's) or a missing one; NOT_FOUND (40400) when the
    /// message's delivery time has come (it is delivered), it was recalled already, or it is no
    /// longer stored (not MESSAGE_NOT_FOUND, which the official clients take for success);
    /// TOPIC_NOT_FOUND for an unknown topic. Needs pub on the topic (`--auth on`).
    public func recallMessage(
        request: ServerRequest<Apache_Rocketmq_V2_RecallMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_RecallMessageResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("RecallMessage", request.metadata, [.publish(topic: request.message.topic.name)])
            response.messageID = try await recall(request.message, clientId: Self.clientId(request.metadata))
        }
    }

    /// Checks a RecallMessage request and recalls the message; returns its id.
    func recall(_ request: Apache_Rocketmq_V2_RecallMessageRequest, clientId: String = "") async throws(ProtocolRefusal)
        -> String
    {
        let topic = try await existingTopic(request.topic.name)
        let handleText = request.recallHandle
        guard !handleText.isEmpty else { throw ProtocolRefusal(.badRequest, "recall_handle is required") }
        guard handleText.utf8.count <= RecallHandle.maxTextLength else {
            throw ProtocolRefusal(
                .badRequest,
                "recall_handle is \(handleText.utf8.count) bytes; a handle this broker issues has at most "
                    + "\(RecallHandle.maxTextLength)")
        }
        let engine = try consumptionEngine()
        return try await refusing { () async throws(BrokerError) in
            try await engine.recall(topic: topic.name, handle: handleText, clientId: clientId)
        }
    }
}
