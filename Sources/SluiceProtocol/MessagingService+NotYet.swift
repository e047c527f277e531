import GRPCCore
import SluiceWire

/// RPCs Sluice does not serve: each answers NOT_IMPLEMENTED (50100) with a message naming the
/// RPC, never a hang, a bare gRPC error or a crash.
extension MessagingService {
    public func syncLiteSubscription(
        request: ServerRequest<Apache_Rocketmq_V2_SyncLiteSubscriptionRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_SyncLiteSubscriptionResponse> {
        var response = Apache_Rocketmq_V2_SyncLiteSubscriptionResponse()
        response.status = Status(.notImplemented, "lite topics are not supported by Sluice")
        return respond(response)
    }
}
