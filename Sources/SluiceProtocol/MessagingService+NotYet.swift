import GRPCCore
import SluiceWire

/// RPCs Sluice does not serve yet: each answers NOT_IMPLEMENTED (50100) with a message naming the
/// RPC, never a hang, a bare gRPC error or a crash.
extension MessagingService {
    static func notYet(_ rpc: String) -> Status {
        Status(.notImplemented, "\(rpc) is not supported by Sluice yet: consumption (consumer groups, receive, ack) is not built")
    }

    public func queryAssignment(
        request: ServerRequest<Apache_Rocketmq_V2_QueryAssignmentRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_QueryAssignmentResponse> {
        var response = Apache_Rocketmq_V2_QueryAssignmentResponse()
        response.status = Self.notYet("QueryAssignment")
        return respond(response)
    }

    public func receiveMessage(
        request: ServerRequest<Apache_Rocketmq_V2_ReceiveMessageRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_ReceiveMessageResponse> {
        StreamingServerResponse { writer in
            var response = Apache_Rocketmq_V2_ReceiveMessageResponse()
            response.status = Self.notYet("ReceiveMessage")
            try await writer.write(response)
            return [:]
        }
    }

    public func ackMessage(
        request: ServerRequest<Apache_Rocketmq_V2_AckMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_AckMessageResponse> {
        var response = Apache_Rocketmq_V2_AckMessageResponse()
        response.status = Self.notYet("AckMessage")
        return respond(response)
    }

    public func forwardMessageToDeadLetterQueue(
        request: ServerRequest<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse> {
        var response = Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse()
        response.status = Self.notYet("ForwardMessageToDeadLetterQueue")
        return respond(response)
    }

    public func pullMessage(
        request: ServerRequest<Apache_Rocketmq_V2_PullMessageRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_PullMessageResponse> {
        StreamingServerResponse { writer in
            var response = Apache_Rocketmq_V2_PullMessageResponse()
            response.status = Self.notYet("PullMessage")
            try await writer.write(response)
            return [:]
        }
    }

    public func updateOffset(
        request: ServerRequest<Apache_Rocketmq_V2_UpdateOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_UpdateOffsetResponse> {
        var response = Apache_Rocketmq_V2_UpdateOffsetResponse()
        response.status = Self.notYet("UpdateOffset")
        return respond(response)
    }

    public func getOffset(
        request: ServerRequest<Apache_Rocketmq_V2_GetOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_GetOffsetResponse> {
        var response = Apache_Rocketmq_V2_GetOffsetResponse()
        response.status = Self.notYet("GetOffset")
        return respond(response)
    }

    public func queryOffset(
        request: ServerRequest<Apache_Rocketmq_V2_QueryOffsetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_QueryOffsetResponse> {
        var response = Apache_Rocketmq_V2_QueryOffsetResponse()
        response.status = Self.notYet("QueryOffset")
        return respond(response)
    }

    public func changeInvisibleDuration(
        request: ServerRequest<Apache_Rocketmq_V2_ChangeInvisibleDurationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ChangeInvisibleDurationResponse> {
        var response = Apache_Rocketmq_V2_ChangeInvisibleDurationResponse()
        response.status = Self.notYet("ChangeInvisibleDuration")
        // The Python client copies the handle before checking the status; give back its own.
        response.receiptHandle = request.message.receiptHandle
        return respond(response)
    }

    public func recallMessage(
        request: ServerRequest<Apache_Rocketmq_V2_RecallMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_RecallMessageResponse> {
        var response = Apache_Rocketmq_V2_RecallMessageResponse()
        response.status = Status(.notImplemented, "RecallMessage is not supported by Sluice yet")
        return respond(response)
    }

    public func syncLiteSubscription(
        request: ServerRequest<Apache_Rocketmq_V2_SyncLiteSubscriptionRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_SyncLiteSubscriptionResponse> {
        var response = Apache_Rocketmq_V2_SyncLiteSubscriptionResponse()
        response.status = Status(.notImplemented, "lite topics are not supported by Sluice")
        return respond(response)
    }
}
