import GRPCCore
import Logging
import NIOConcurrencyHelpers
import SluiceBroker
import SluiceWire

/// Apache RocketMQ 5's `MessagingService` over gRPC. Every RPC answers a RocketMQ status in its
/// response: a refusal is a code from the protocol's `Code` enum with a message that says what was
/// wrong, never a thrown gRPC error, so the official clients show it to the user.
public struct MessagingService: Apache_Rocketmq_V2_MessagingService.ServiceProtocol {
    public struct Configuration: Sendable {
        /// The largest body accepted (advertised to producers in their settings).
        public var maxBodyBytes: Int = 4 << 20
        /// Where clients reach this broker when a route request names no endpoints.
        public var advertisedHost: String = "127.0.0.1"
        public var advertisedPort: Int = 8081
        /// With log replication: the group's leader, which routes name instead (nil: no replication).
        public var groupLeader: GroupLeaderAddress?
        /// With `--etcd`: the route table, topics' queues spread over broker groups (nil: no cluster).
        public var queueRoutes: QueueRoutes?
        /// Calls in flight and body bytes held by them, per broker (see `RequestAdmission`).
        public var admission = RequestAdmission.Limits()

        public init() {}
    }

    let handle: BrokerHandle
    let sessions: ClientSessions
    let configuration: Configuration
    let logger: Logger
    /// Authentication and access rules (`--auth`); `.disabled` checks nothing.
    let access: AccessControl
    let queueCursor = NIOLockedValueBox<UInt32>(0)
    let admission: RequestAdmission

    public init(
        handle: BrokerHandle, sessions: ClientSessions, configuration: Configuration, logger: Logger,
        access: AccessControl = .disabled
    ) {
        self.access = access
        self.admission = RequestAdmission(limits: configuration.admission)
        self.handle = handle
        self.sessions = sessions
        self.configuration = configuration
        self.logger = logger
    }

    static func clientId(_ metadata: Metadata) -> String {
        metadata["x-mq-client-id"].first { _ in true }.flatMap { value -> String? in
            switch value {
            case .string(let text): text
            case .binary: nil
            }
        } ?? ""
    }

    func respond<T>(_ message: T) -> ServerResponse<T> { ServerResponse(message: message, metadata: [:]) }

    // MARK: routes, heartbeats, client lifecycle

    public func queryRoute(
        request: ServerRequest<Apache_Rocketmq_V2_QueryRouteRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_QueryRouteResponse> {
        await answer { response throws(ProtocolRefusal) in
            try await authorize("QueryRoute", request.metadata, Self.needs(request.message))
            response.messageQueues = try await route(for: request.message)
        }
    }

    public func heartbeat(
        request: ServerRequest<Apache_Rocketmq_V2_HeartbeatRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_HeartbeatResponse> {
        let started = ContinuousClock.now
        defer { RequestDurationMetric.shared.record(rpc: "Heartbeat", since: started) }
        if let refused = await refusal(request) { return respond(refused) }
        var response = Apache_Rocketmq_V2_HeartbeatResponse()
        let clientId = Self.clientId(request.metadata)
        do throws(ProtocolRefusal) {
            try WireCheck.clientId(clientId)
            if clientId.isEmpty { throw ProtocolRefusal(.clientIDRequired, "the x-mq-client-id header is missing") }
            sessions.noteHeartbeat(clientId: clientId)
            response.status = .ok
        } catch {
            response.status = error.status
        }
        RefusalMetric.shared.count(response.status, rpc: "Heartbeat")
        return respond(response)
    }

    public func notifyClientTermination(
        request: ServerRequest<Apache_Rocketmq_V2_NotifyClientTerminationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_NotifyClientTerminationResponse> {
        let started = ContinuousClock.now
        defer { RequestDurationMetric.shared.record(rpc: "NotifyClientTermination", since: started) }
        if let refused = await refusal(request) { return respond(refused) }
        let clientId = Self.clientId(request.metadata)
        var response = Apache_Rocketmq_V2_NotifyClientTerminationResponse()
        do throws(ProtocolRefusal) {
            try WireCheck.clientId(clientId)
            sessions.terminate(clientId: clientId)
            response.status = .ok
        } catch {
            response.status = error.status
        }
        RefusalMetric.shared.count(response.status, rpc: "NotifyClientTermination")
        return respond(response)
    }

    // MARK: producing

    public func sendMessage(
        request: ServerRequest<Apache_Rocketmq_V2_SendMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_SendMessageResponse> {
        let started = ContinuousClock.now
        defer { RequestDurationMetric.shared.record(rpc: "SendMessage", since: started) }
        var response = Apache_Rocketmq_V2_SendMessageResponse()
        let bytes = request.message.messages.reduce(0) { $0 + $1.body.count }
        let throttled = admission.admit(bytes: bytes)
        defer { if throttled == nil { admission.release(bytes: bytes) } }
        do throws(ProtocolRefusal) {
            if let throttled { throw throttled.refusal(admission.limits) }
            try await authorize("SendMessage", request.metadata, Self.needs(request.message))
            let entry = try await send(request.message, clientId: Self.clientId(request.metadata))
            response.status = .ok
            response.entries = [entry]
        } catch {
            // The Python client reads only the top-level status, but asserts exactly one entry.
            response.status = error.status
            var entry = Apache_Rocketmq_V2_SendResultEntry()
            entry.status = error.status
            response.entries = [entry]
        }
        RefusalMetric.shared.count(response.status, rpc: "SendMessage")
        return respond(response)
    }

    public func endTransaction(
        request: ServerRequest<Apache_Rocketmq_V2_EndTransactionRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_EndTransactionResponse> {
        await answer(rpc: "EndTransaction") { response throws(ProtocolRefusal) in
            try await authorizeEnd(request.message, request.metadata)
            response.status = try await endTransaction(request.message, clientId: Self.clientId(request.metadata))
        }
    }

    public func telemetry(
        request: StreamingServerRequest<Apache_Rocketmq_V2_TelemetryCommand>, context: ServerContext
    ) async throws -> StreamingServerResponse<Apache_Rocketmq_V2_TelemetryCommand> {
        let clientId = Self.clientId(request.metadata)
        let caller = await telemetryAccess(request.metadata)
        return StreamingServerResponse { writer in
            if let refused = caller.refusal { try await writer.write(refused); return [:] }
            try await runTelemetry(clientId: clientId, caller: caller, inbound: request.messages, writer: writer)
            return [:]
        }
    }
}
