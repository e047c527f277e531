import GRPCCore
import SluiceWire

/// The RocketMQ 5 `MessagingService`'s methods by HTTP/2 `:path`.
enum MessagingRoutes {
    typealias Methods = Apache_Rocketmq_V2_MessagingService.Method

    static func table(_ service: some Apache_Rocketmq_V2_MessagingService.ServiceProtocol) -> [String: FrontRoute] {
        let routes: [FrontRoute] = [
            .unary(Methods.QueryRoute.descriptor, service.queryRoute),
            .unary(Methods.Heartbeat.descriptor, service.heartbeat),
            .unary(Methods.SendMessage.descriptor, service.sendMessage),
            .unary(Methods.QueryAssignment.descriptor, service.queryAssignment),
            .serverStreaming(Methods.ReceiveMessage.descriptor, service.receiveMessage),
            .unary(Methods.AckMessage.descriptor, service.ackMessage),
            .unary(Methods.ForwardMessageToDeadLetterQueue.descriptor, service.forwardMessageToDeadLetterQueue),
            .serverStreaming(Methods.PullMessage.descriptor, service.pullMessage),
            .unary(Methods.UpdateOffset.descriptor, service.updateOffset),
            .unary(Methods.GetOffset.descriptor, service.getOffset),
            .unary(Methods.QueryOffset.descriptor, service.queryOffset),
            .unary(Methods.EndTransaction.descriptor, service.endTransaction),
            .bidirectional(Methods.Telemetry.descriptor, service.telemetry),
            .unary(Methods.NotifyClientTermination.descriptor, service.notifyClientTermination),
            .unary(Methods.ChangeInvisibleDuration.descriptor, service.changeInvisibleDuration),
            .unary(Methods.RecallMessage.descriptor, service.recallMessage),
            .unary(Methods.SyncLiteSubscription.descriptor, service.syncLiteSubscription),
        ]
        return Dictionary(uniqueKeysWithValues: routes.map { ("/" + $0.descriptor.fullyQualifiedMethod, $0) })
    }
}
