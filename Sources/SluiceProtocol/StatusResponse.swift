import GRPCCore
import SluiceBroker
import SluiceWire

/// A unary response with a top-level RocketMQ status.
protocol StatusResponse: Sendable {
    init()
    var status: Apache_Rocketmq_V2_Status { get set }
}

extension Apache_Rocketmq_V2_QueryRouteResponse: StatusResponse {}
extension Apache_Rocketmq_V2_EndTransactionResponse: StatusResponse {}
extension Apache_Rocketmq_V2_QueryAssignmentResponse: StatusResponse {}
extension Apache_Rocketmq_V2_AckMessageResponse: StatusResponse {}
extension Apache_Rocketmq_V2_ChangeInvisibleDurationResponse: StatusResponse {}
extension Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse: StatusResponse {}
extension Apache_Rocketmq_V2_QueryOffsetResponse: StatusResponse {}
extension Apache_Rocketmq_V2_GetOffsetResponse: StatusResponse {}
extension Apache_Rocketmq_V2_UpdateOffsetResponse: StatusResponse {}

extension MessagingService {
    /// Answers a unary RPC: `body` fills the response, whose status starts as OK; a refusal it
    /// throws becomes the status (code and message), so the call itself never fails. Over the
    /// broker's in-flight limit the answer is TOO_MANY_REQUESTS and `body` does not run.
    /// `rpc` names the call in `sluice_requests_refused_total` (by default the Swift method name).
    func answer<Response: StatusResponse>(
        _ response: Response = Response(), rpc: String = #function,
        _ body: (inout Response) async throws(ProtocolRefusal) -> Void
    ) async -> ServerResponse<Response> {
        let started = ContinuousClock.now
        defer { RequestDurationMetric.shared.record(rpc: rpc, since: started) }
        var response = response
        if let reason = admission.admit(bytes: 0) {
            response.status = reason.refusal(admission.limits).status
            RefusalMetric.shared.count(response.status, rpc: rpc)
            return respond(response)
        }
        defer { admission.release(bytes: 0) }
        response.status = .ok
        do throws(ProtocolRefusal) {
            try await body(&response)
        } catch {
            response.status = error.status
        }
        RefusalMetric.shared.count(response.status, rpc: rpc)
        return respond(response)
    }

    /// Runs a broker call, turning its `BrokerError` into the matching refusal.
    func refusing<T>(_ body: () async throws(BrokerError) -> T) async throws(ProtocolRefusal) -> T {
        do throws(BrokerError) {
            return try await body()
        } catch {
            throw ProtocolRefusal(error)
        }
    }
}
