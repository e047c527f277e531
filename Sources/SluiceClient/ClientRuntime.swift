import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SluiceWire
import SwiftProtobuf
import Synchronization

typealias MessagingStub = Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>

/// What kind of client a runtime serves: decides its Telemetry settings, heartbeats and termination notice.
enum ClientRole: Sendable {
    case producer
    case simpleConsumer(group: String, longPolling: Duration)
    case pushConsumer(group: String)

    var wireType: Apache_Rocketmq_V2_ClientType {
        switch self {
        case .producer: .producer
        case .simpleConsumer: .simpleConsumer
        case .pushConsumer: .pushConsumer
        }
    }

    var group: String? {
        switch self {
        case .producer: nil
        case .simpleConsumer(let group, _), .pushConsumer(let group): group
        }
    }
}

/// The machinery every client shares: one gRPC connection to the access point, the client id,
/// the route cache, the Telemetry stream (settings, check-back commands, reconnect with backoff),
/// heartbeats, and the in-flight counter that graceful shutdown drains.
///
/// All calls go to the configured access point. A Sluice broker (and a RocketMQ proxy) answers
/// routes with its own endpoints, so this is the same place; dialling other brokers named in a
/// route is not built yet.
final class ClientRuntime: Sendable {
    let configuration: ClientConfiguration
    let clientID: String
    let role: ClientRole
    let stub: MessagingStub
    let logger: Logger
    /// Called for each RecoverOrphanedTransactionCommand pushed on the Telemetry stream.
    let onCheckBack: (@Sendable (ClientRuntime, Apache_Rocketmq_V2_RecoverOrphanedTransactionCommand) async -> Void)?

    struct State {
        /// Topics this client publishes to or subscribes to (reported in settings).
        var topics: [String: String] = [:]  // topic -> tag filter expression ("*" for producers)
        var routes: [String: [Apache_Rocketmq_V2_MessageQueue]] = [:]
        var closed = false
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var settingsReceived = false
        var settingsWaiters: [CheckedContinuation<Void, Never>] = []
        var roundRobin = 0
    }
    let state: Mutex<State>

    init(
        configuration: ClientConfiguration, role: ClientRole, topics: [String: String], stub: MessagingStub,
        onCheckBack: (@Sendable (ClientRuntime, Apache_Rocketmq_V2_RecoverOrphanedTransactionCommand) async -> Void)?
    ) {
        self.configuration = configuration
        self.clientID = ClientIdentity.makeClientID()
        self.role = role
        self.stub = stub
        var logger = configuration.logger
        logger[metadataKey: "client.id"] = "\(clientID)"
        self.logger = logger
        self.onCheckBack = onCheckBack
        var initial = State()
        initial.topics = topics
        self.state = Mutex(initial)
    }

    /// Connects, runs the background work (Telemetry, heartbeats, route refresh) while `body` runs,
    /// then shuts down gracefully: no new work, in-flight work finished (bounded by
    /// `shutdownGracePeriod`), NotifyClientTermination, connection closed.
    static func withRuntime<T: Sendable>(
        configuration: ClientConfiguration, role: ClientRole, topics: [String: String],
        onCheckBack: (@Sendable (ClientRuntime, Apache_Rocketmq_V2_RecoverOrphanedTransactionCommand) async -> Void)? = nil,
        _ body: (ClientRuntime) async throws -> T
    ) async throws -> T {
        let transport: HTTP2ClientTransport.Posix
        do {
            var transportConfig = HTTP2ClientTransport.Posix.Config.defaults
            if let name = configuration.tls?.serverHostname { transportConfig.http2.authority = name }
            transport = try HTTP2ClientTransport.Posix(
                target: Self.target(host: configuration.host, port: configuration.port),
                transportSecurity: configuration.tls?.transportSecurity ?? .plaintext, config: transportConfig)
        } catch {
            throw SluiceClientError(
                code: .invalidArgument, message: "cannot use \(configuration.host):\(configuration.port)", cause: error)
        }
        let grpc = GRPCClient(transport: transport)
        let runtime = ClientRuntime(
            configuration: configuration, role: role, topics: topics, stub: .init(wrapping: grpc),
            onCheckBack: onCheckBack)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await grpc.runConnections() }
            group.addTask { await runtime.runTelemetry() }
            group.addTask { await runtime.runMaintenance() }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(runtime))
            } catch {
                outcome = .failure(error)
            }
            await runtime.shutdown()
            group.cancelAll()
            grpc.beginGracefulShutdown()
            do {
                for try await _ in group {}
            } catch {
                runtime.logger.debug("background task ended with an error at shutdown", metadata: ["error": "\(error)"])
            }
            return try outcome.get()
        }
    }

    static func target(host: String, port: Int) -> any ResolvableTarget {
        if host.contains(":") {
            return ResolvableTargets.IPv6(addresses: [SocketAddress.IPv6(host: host, port: port)])
        }
        if host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return ResolvableTargets.IPv4(addresses: [SocketAddress.IPv4(host: host, port: port)])
        }
        return ResolvableTargets.DNS(host: host, port: port)
    }

    // MARK: metadata and calls

    var metadata: Metadata {
        var metadata = Metadata()
        metadata.addString(clientID, forKey: "x-mq-client-id")
        metadata.addString("SWIFT", forKey: "x-mq-language")
        metadata.addString("GRPC_V2", forKey: "x-mq-protocol")
        metadata.addString(SluiceClientVersion.string, forKey: "x-mq-client-version")
        metadata.addString(configuration.namespace, forKey: "x-mq-namespace")
        metadata.addString(UUID().uuidString.lowercased(), forKey: "x-mq-request-id")
        if let credentials = configuration.credentials {
            let dateTime = ClientCredentials.dateTime(epochSeconds: Int64(Date().timeIntervalSince1970))
            metadata.addString(dateTime, forKey: "x-mq-date-time")
            metadata.addString(credentials.authorization(dateTime: dateTime), forKey: "authorization")
            if let token = credentials.securityToken { metadata.addString(token, forKey: "x-mq-session-token") }
        }
        return metadata
    }

    func callOptions(timeout: Duration? = nil) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout ?? configuration.requestTimeout
        // Batches of full-size messages exceed gRPC's 4 MiB default.
        options.maxResponseMessageBytes = 256 * 1024 * 1024
        options.maxRequestMessageBytes = 64 * 1024 * 1024
        return options
    }

    /// Runs one RPC, turning transport failures into `SluiceClientError.transportFailed`.
    func rpc<R: Sendable>(_ name: String, _ call: () async throws -> R) async throws(SluiceClientError) -> R {
        do {
            return try await call()
        } catch let error as SluiceClientError {
            throw error
        } catch let error as RPCError {
            throw SluiceClientError(code: .transportFailed, message: "\(name): \(error.code): \(error.message)", cause: error)
        } catch is CancellationError {
            throw SluiceClientError(code: .clientClosed, message: "\(name) was cancelled")
        } catch {
            throw SluiceClientError(code: .transportFailed, message: "\(name) failed", cause: error)
        }
    }

    /// Throws unless `status` is OK (or one of `accepting`).
    func check(
        _ status: Apache_Rocketmq_V2_Status, _ what: String, accepting: Set<Apache_Rocketmq_V2_Code> = []
    ) throws(SluiceClientError) {
        if status.code == .ok || accepting.contains(status.code) { return }
        let text = status.message.isEmpty ? "\(status.code)" : status.message
        throw SluiceClientError(code: .brokerRejected, rocketMQCode: status.code.rawValue, message: "\(what): \(text)")
    }

    // MARK: in-flight work and shutdown

    /// Counts `work` as in flight (graceful shutdown waits for it); refuses new work once closed.
    func inFlight<R>(_ work: () async throws -> R) async throws -> R {
        let admitted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.inFlight += 1
            return true
        }
        guard admitted else { throw SluiceClientError(code: .clientClosed, message: "the client is shut down") }
        defer {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.inFlight -= 1
                guard state.inFlight == 0 else { return [] }
                defer { state.drainWaiters = [] }
                return state.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        return try await work()
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Stops taking work, waits for in-flight work (at most the grace period), then tells the
    /// broker this client is gone so it stops choosing it for check-backs.
    func shutdown() async {
        state.withLock { $0.closed = true }
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let idle = self.state.withLock { state -> Bool in
                        if state.inFlight == 0 { return true }
                        state.drainWaiters.append(continuation)
                        return false
                    }
                    if idle { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: self.configuration.shutdownGracePeriod)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            // Release the drain waiter if the grace period won.
            let waiters = self.state.withLock { state in
                defer { state.drainWaiters = [] }
                return state.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
            return first
        }
        if !drained { logger.warning("shutdown grace period ended with work still in flight") }
        var request = Apache_Rocketmq_V2_NotifyClientTerminationRequest()
        if let group = role.group { request.group = WireMessage.resource(group, namespace: configuration.namespace) }
        do {
            let response = try await rpc("NotifyClientTermination") {
                try await stub.notifyClientTermination(request, metadata: metadata, options: callOptions())
            }
            try check(response.status, "notify client termination")
        } catch {
            logger.info("NotifyClientTermination failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: settings

    /// Waits until the broker answered this client's settings on the Telemetry stream, at most `timeout`.
    /// - Returns: whether settings arrived in time.
    func waitForSettings(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let ready = self.state.withLock { state -> Bool in
                        if state.settingsReceived { return true }
                        state.settingsWaiters.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first {
                let waiters = self.state.withLock { state in
                    defer { state.settingsWaiters = [] }
                    return state.settingsWaiters
                }
                for waiter in waiters { waiter.resume() }
            }
            return first
        }
    }

    func markSettingsReceived() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.settingsReceived = true
            defer { state.settingsWaiters = [] }
            return state.settingsWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The settings command this client sends first on every Telemetry stream.
    func settingsCommand() -> Apache_Rocketmq_V2_TelemetryCommand {
        var settings = Apache_Rocketmq_V2_Settings()
        settings.clientType = role.wireType
        settings.accessPoint = accessPoint
        settings.requestTimeout = Google_Protobuf_Duration(sluiceDuration: configuration.requestTimeout)
        settings.userAgent.language = .unspecified  // the protocol's Language enum has no Swift entry
        settings.userAgent.version = SluiceClientVersion.string
        settings.userAgent.platform = "swift"
        settings.userAgent.hostname = ProcessInfo.processInfo.hostName
        settings.metric.on = false
        let topics = state.withLock { $0.topics }
        switch role {
        case .producer:
            var publishing = Apache_Rocketmq_V2_Publishing()
            publishing.topics = topics.keys.sorted().map { WireMessage.resource($0, namespace: configuration.namespace) }
            publishing.maxBodySize = 4 * 1024 * 1024
            publishing.validateMessageType = true
            settings.publishing = publishing
        case .simpleConsumer(let group, _), .pushConsumer(let group):
            var subscription = Apache_Rocketmq_V2_Subscription()
            subscription.group = WireMessage.resource(group, namespace: configuration.namespace)
            subscription.subscriptions = topics.sorted { $0.key < $1.key }.map { topic, filter in
                var entry = Apache_Rocketmq_V2_SubscriptionEntry()
                entry.topic = WireMessage.resource(topic, namespace: configuration.namespace)
                entry.expression.type = .tag
                entry.expression.expression = filter
                return entry
            }
            if case .simpleConsumer(_, let longPolling) = role {
                subscription.longPollingTimeout = Google_Protobuf_Duration(sluiceDuration: longPolling)
            }
            settings.subscription = subscription
        }
        var command = Apache_Rocketmq_V2_TelemetryCommand()
        command.settings = settings
        return command
    }

    var accessPoint: Apache_Rocketmq_V2_Endpoints {
        var endpoints = Apache_Rocketmq_V2_Endpoints()
        let host = configuration.host
        endpoints.scheme = host.contains(":") ? .ipv6 : host.allSatisfy({ $0.isNumber || $0 == "." }) ? .ipv4 : .domainName
        var address = Apache_Rocketmq_V2_Address()
        address.host = host
        address.port = Int32(clamping: configuration.port)
        endpoints.addresses = [address]
        return endpoints
    }
}

/// The version this SDK reports in `x-mq-client-version` and its settings.
public enum SluiceClientVersion {
    public static let string = "sluice-swift-0.1.0"
}

extension Google_Protobuf_Duration {
    init(sluiceDuration duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(seconds: seconds, nanos: Int32(attoseconds / 1_000_000_000))
    }
}
