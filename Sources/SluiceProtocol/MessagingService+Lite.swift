import GRPCCore
import SluiceBroker
import SluiceWire

extension Apache_Rocketmq_V2_SyncLiteSubscriptionResponse: StatusResponse {}

extension MessagingService {
    /// `SyncLiteSubscription`: a LitePushConsumer subscribes or unsubscribes lite topics of the
    /// LITE topic its group is bound to. The subscriptions belong to the group (stored, one row
    /// each); when one client unsubscribes, the group's other connected clients get a
    /// `NotifyUnsubscribeLiteCommand` for each lite topic the group lost.
    ///
    /// Refusals: ILLEGAL_CONSUMER_GROUP, CONSUMER_GROUP_NOT_FOUND / TOO_MANY_REQUESTS (a new group
    /// when groups are not created on first use, or `--max-groups` is reached), ILLEGAL_TOPIC / TOPIC_NOT_FOUND, BAD_REQUEST (not a LITE
    /// topic, an unknown action, too many names in one request), ILLEGAL_LITE_TOPIC (a name),
    /// LITE_SUBSCRIPTION_QUOTA_EXCEEDED (the group's quota or the broker's total).
    public func syncLiteSubscription(
        request: ServerRequest<Apache_Rocketmq_V2_SyncLiteSubscriptionRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_SyncLiteSubscriptionResponse> {
        let message = request.message
        let clientId = Self.clientId(request.metadata)
        return await answer(rpc: "SyncLiteSubscription") { _ throws(ProtocolRefusal) in
            try await authorize(
                "SyncLiteSubscription", request.metadata,
                Self.consuming(topic: message.topic.name, group: message.group.name))
            try await syncLite(message, clientId: clientId)
        }
    }

    func syncLite(_ message: Apache_Rocketmq_V2_SyncLiteSubscriptionRequest, clientId: String) async throws(ProtocolRefusal) {
        try WireCheck.clientId(clientId)
        try WireCheck.groupName(message.group.name)
        let topic = try await existingTopic(message.topic.name)
        guard topic.messageType == .lite else {
            throw ProtocolRefusal(
                .badRequest, "topic \(topic.name) takes \(topic.messageType.rawValue) messages; lite subscriptions need a lite topic")
        }
        guard let store = handle.lite else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        // The group exists (created on first use like a receive would, within --max-groups), so
        // subscriptions never belong to a group the broker does not count.
        _ = try await consumerGroup(message.group.name, engine: try consumptionEngine())
        // One request lists at most a group's quota (a resync lists everything the client has).
        if message.liteTopicSet.count > store.quotaPerGroup {
            throw ProtocolRefusal(
                .liteSubscriptionQuotaExceeded,
                "lite_topic_set has \(message.liteTopicSet.count) names; the quota is \(store.quotaPerGroup)")
        }
        for name in message.liteTopicSet { try WireCheck.liteTopic(name, field: "lite_topic_set entry") }
        let change: LiteSubscriptionChange
        switch message.action {
        case .partialAdd: change = .add
        case .partialRemove: change = .remove
        case .completeAdd: change = .resync
        case .completeRemove: change = .removeAll
        case .UNRECOGNIZED(let value):
            throw ProtocolRefusal(.badRequest, "action \(value) is not a LiteSubscriptionAction (0 to 3)")
        }
        let group = message.group.name
        let before = store.liteTopics(group: group, topic: topic.name)
        let after: Set<String>
        do throws(BrokerError) {
            after = try await store.apply(change, group: group, topic: topic.name, liteTopics: Set(message.liteTopicSet))
        } catch where error.code == .limitExceeded {
            throw ProtocolRefusal(.liteSubscriptionQuotaExceeded, error.message)
        } catch {
            throw ProtocolRefusal(error)
        }
        let lost = before.subtracting(after)
        if !lost.isEmpty { notifyUnsubscribed(lost, group: group, except: clientId) }
    }

    /// Tells the group's other connected clients which lite topics it no longer subscribes.
    func notifyUnsubscribed(_ liteTopics: Set<String>, group: String, except clientId: String) {
        for other in sessions.clients(consumerGroup: group) where other != clientId {
            for name in liteTopics.sorted() {
                var command = Apache_Rocketmq_V2_TelemetryCommand()
                command.notifyUnsubscribeLiteCommand.liteTopic = name
                _ = sessions.push(command, to: other)
            }
        }
    }
}
