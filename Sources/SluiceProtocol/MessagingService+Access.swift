import GRPCCore
import SluiceBroker
import SluiceTransactions
import SluiceWire

extension Apache_Rocketmq_V2_HeartbeatResponse: StatusResponse {}
extension Apache_Rocketmq_V2_NotifyClientTerminationResponse: StatusResponse {}
extension Apache_Rocketmq_V2_ReceiveMessageResponse: StatusResponse {}
extension Apache_Rocketmq_V2_PullMessageResponse: StatusResponse {}
extension Apache_Rocketmq_V2_TelemetryCommand: StatusResponse {}

extension ProtocolRefusal {
    /// UNAUTHORIZED (40100) when the caller did not prove who it is, FORBIDDEN (40300) when it
    /// did but may not do this, INTERNAL_ERROR while the user table is not open yet.
    init(_ denial: AccessDenial) {
        switch denial.reason {
        case .notReady: self.init(.internalError, denial.message)
        case _ where denial.isAuthentication: self.init(.unauthorized, denial.message)
        default: self.init(.forbidden, denial.message)
        }
    }
}

/// A consumer's request: the topic and group it acts on, for the access check.
protocol ConsumerRequest {
    var consumedTopic: String { get }
    var consumedGroup: String { get }
}

extension Apache_Rocketmq_V2_AckMessageRequest: ConsumerRequest {
    var consumedTopic: String { topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_ChangeInvisibleDurationRequest: ConsumerRequest {
    var consumedTopic: String { topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest: ConsumerRequest {
    var consumedTopic: String { topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_QueryAssignmentRequest: ConsumerRequest {
    var consumedTopic: String { topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_ReceiveMessageRequest: ConsumerRequest {
    var consumedTopic: String { messageQueue.topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_PullMessageRequest: ConsumerRequest {
    var consumedTopic: String { messageQueue.topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_GetOffsetRequest: ConsumerRequest {
    var consumedTopic: String { messageQueue.topic.name }
    var consumedGroup: String { group.name }
}

extension Apache_Rocketmq_V2_UpdateOffsetRequest: ConsumerRequest {
    var consumedTopic: String { messageQueue.topic.name }
    var consumedGroup: String { group.name }
}

/// The access hooks each RPC handler calls in one line (`--auth on`; with it off they only read
/// a flag). The logic lives in `AccessControl` (SluiceBroker/Security).
extension MessagingService {
    /// Authenticates the call and checks `needs`; returns the access key (nil with auth off).
    /// - Throws: UNAUTHORIZED or FORBIDDEN with a message naming the user and resource; the
    ///   refusal is counted and audited.
    @discardableResult
    func authorize(_ call: String, _ metadata: Metadata, _ needs: [AccessNeed] = []) async throws(ProtocolRefusal)
        -> String?
    {
        guard access.isEnabled else { return nil }
        do throws(AccessDenial) {
            let user = try access.authenticate(
                authorization: Self.header("authorization", metadata),
                dateTime: Self.header("x-mq-date-time", metadata))
            try access.authorize(accessKey: user, needs)
            return user
        } catch {
            await access.record(error, call: call, client: Self.clientId(metadata))
            throw ProtocolRefusal(error)
        }
    }

    /// For handlers without a refusal path: the response to send when the call is refused.
    func refusal<Response: StatusResponse>(_ call: String, _ metadata: Metadata, _ needs: [AccessNeed] = []) async
        -> Response?
    {
        do throws(ProtocolRefusal) {
            try await authorize(call, metadata, needs)
            return nil
        } catch {
            var response = Response()
            response.status = error.status
            return response
        }
    }

    // MARK: each RPC's needs, so that its hook fits on one line

    static func needs(_ request: Apache_Rocketmq_V2_QueryRouteRequest) -> [AccessNeed] {
        [AccessNeed([.pub, .sub], .topic, request.topic.name)]
    }

    static func needs(_ request: Apache_Rocketmq_V2_SendMessageRequest) -> [AccessNeed] {
        request.messages.map { .publish(topic: $0.topic.name) }
    }

    static func needs(_ request: Apache_Rocketmq_V2_QueryOffsetRequest) -> [AccessNeed] {
        [.subscribe(topic: request.messageQueue.topic.name)]
    }

    func refusal(_ request: ServerRequest<Apache_Rocketmq_V2_ReceiveMessageRequest>) async
        -> Apache_Rocketmq_V2_ReceiveMessageResponse?
    {
        await refusal("ReceiveMessage", request.metadata, Self.consuming(request.message))
    }

    func refusal(_ request: ServerRequest<Apache_Rocketmq_V2_PullMessageRequest>) async
        -> Apache_Rocketmq_V2_PullMessageResponse?
    {
        await refusal("PullMessage", request.metadata, Self.consuming(request.message))
    }

    func refusal(_ request: ServerRequest<Apache_Rocketmq_V2_HeartbeatRequest>) async
        -> Apache_Rocketmq_V2_HeartbeatResponse?
    {
        await refusal("Heartbeat", request.metadata)
    }

    func refusal(_ request: ServerRequest<Apache_Rocketmq_V2_NotifyClientTerminationRequest>) async
        -> Apache_Rocketmq_V2_NotifyClientTerminationResponse?
    {
        await refusal("NotifyClientTermination", request.metadata)
    }

    /// A consumer's needs: sub on the topic and on the group.
    static func consuming(topic: String, group: String) -> [AccessNeed] {
        [.subscribe(topic: topic), .subscribe(group: group)]
    }

    /// A consumer request's needs: sub on its topic and on its group.
    static func consuming(_ request: some ConsumerRequest) -> [AccessNeed] {
        consuming(topic: request.consumedTopic, group: request.consumedGroup)
    }

    /// EndTransaction is accepted from the client that sent the half message, from a client the
    /// broker sent a check-back for it to, or (auth on) from a user allowed to publish to its
    /// topic. RocketMQ 5 clients carry no producer group, so there is nothing else to match. An
    /// unknown id is left to the coordinator, which answers INVALID_TRANSACTION_ID.
    /// - Throws: UNAUTHORIZED, or FORBIDDEN (counted and audited as `not_transaction_owner`).
    func authorizeEnd(_ request: Apache_Rocketmq_V2_EndTransactionRequest, _ metadata: Metadata) async
        throws(ProtocolRefusal)
    {
        let user = try await authorize("EndTransaction", metadata)
        guard let coordinator = handle.coordinator, !request.transactionID.isEmpty,
            let record = try? await coordinator.transaction(id: request.transactionID)
        else { return }
        let clientId = Self.clientId(metadata)
        if !clientId.isEmpty, record.clientId == clientId { return }
        if let user, access.allows(accessKey: user, .publish(topic: record.topic)) { return }
        if !clientId.isEmpty, record.checkCount > 0,
            let checks = try? await coordinator.store.checkHistory(transactionId: request.transactionID),
            checks.contains(where: { $0.clientId == clientId })
        {
            return
        }
        let denial = AccessDenial(
            .notTransactionOwner,
            "transaction \(request.transactionID) was not sent by this client"
                + (access.isEnabled ? " and user \(user ?? "?") may not pub on topic \(record.topic)" : ""),
            accessKey: user, resource: "topic \(record.topic)")
        await access.record(denial, call: "EndTransaction", client: clientId)
        throw ProtocolRefusal(.forbidden, denial.message)
    }

    /// What a Telemetry stream's caller may declare: checked once per settings command.
    struct TelemetryAccess: Sendable {
        var user: String?
        var refusal: Apache_Rocketmq_V2_TelemetryCommand?
    }

    /// Authenticates a Telemetry stream when it opens (its headers come once).
    func telemetryAccess(_ metadata: Metadata) async -> TelemetryAccess {
        do throws(ProtocolRefusal) {
            return TelemetryAccess(user: try await authorize("Telemetry", metadata), refusal: nil)
        } catch {
            var command = Apache_Rocketmq_V2_TelemetryCommand()
            command.status = error.status
            return TelemetryAccess(user: nil, refusal: command)
        }
    }

    /// The refusal to send for settings that declare topics or a group the user may not use.
    func refusal(of settings: Apache_Rocketmq_V2_Settings, by caller: TelemetryAccess, clientId: String) async
        -> Apache_Rocketmq_V2_TelemetryCommand?
    {
        guard access.isEnabled else { return nil }
        var needs: [AccessNeed] = []
        switch settings.pubSub {
        case .publishing(let publishing): needs = publishing.topics.map { .publish(topic: $0.name) }
        case .subscription(let subscription):
            needs = [.subscribe(group: subscription.group.name)]
                + subscription.subscriptions.map { .subscribe(topic: $0.topic.name) }
        default: break
        }
        do throws(AccessDenial) {
            try access.authorize(accessKey: caller.user, needs)
            return nil
        } catch {
            await access.record(error, call: "Telemetry", client: clientId)
            var command = Apache_Rocketmq_V2_TelemetryCommand()
            command.status = ProtocolRefusal(error).status
            return command
        }
    }

    /// The first text value of a header.
    static func header(_ name: String, _ metadata: Metadata) -> String? {
        for value in metadata[name] {
            if case .string(let text) = value { return text }
        }
        return nil
    }
}
