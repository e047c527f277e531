import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SluiceBroker
import SluiceMQTTWire
import SluiceProtocol
import Synchronization

/// The MQTT 3.1.1 and 5.0 access front (`--mqtt-port`): NIO framing and decoding (`MQTTPacketDecoder`),
/// then one task per connection (`MQTTConnection`) on the broker's `MessagingService`. Runs as
/// one `Service` in the broker's group; see docs/access.md.
public struct MQTTAccessServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var limits: MQTTAccessLimits
        /// TLS from the gRPC port's settings (`--tls-cert`/`--tls-key`); nil for plain TCP.
        public var tls: TLSConfiguration?

        public init(host: String, port: Int, limits: MQTTAccessLimits = MQTTAccessLimits(), tls: TLSConfiguration? = nil) {
            self.host = host
            self.port = port
            self.limits = limits
            self.tls = tls
        }
    }

    typealias Connection = NIOAsyncChannel<MQTTPacket, ByteBuffer>

    let configuration: Configuration
    let front: MQTTFront
    let onListening: @Sendable (_ host: String, _ port: Int) -> Void
    private let open = OpenConnections()

    public init(
        configuration: Configuration, service: MessagingService, access: AccessControl, handle: BrokerHandle,
        logger: Logger,
        onListening: @escaping @Sendable (_ host: String, _ port: Int) -> Void
    ) {
        self.configuration = configuration
        self.front = MQTTFront(service: service, access: access, handle: handle, limits: configuration.limits, logger: logger)
        self.onListening = onListening
    }

    public var description: String { "MQTTAccessServer(\(configuration.host):\(configuration.port))" }

    public func run() async throws {
        let sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        let maxPacketBytes = configuration.limits.maxPacketBytes
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(MQTTPacketDecoder(maxPacketBytes: maxPacketBytes)))
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        onListening(configuration.host, server.channel.localAddress?.port ?? configuration.port)
        try await cancelWhenGracefulShutdown {
            try await withTaskCancellationHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    // Ends kept MQTT 5 sessions past their expiry, for as long as the port is open.
                    group.addTask { await front.expireSessions() }
                    try await withThrowingDiscardingTaskGroup { connectionTasks in
                        try await server.executeThenClose { connections in
                            for try await connection in connections {
                                guard open.enter(limit: configuration.limits.maxConnections) else {
                                    MQTTAccessMetrics.shared.connection("refused_limit")
                                    connection.channel.close(promise: nil)
                                    continue
                                }
                                connectionTasks.addTask { await serve(connection) }
                            }
                        }
                    }
                    group.cancelAll()
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        }
    }

    private func serve(_ connection: Connection) async {
        MQTTAccessMetrics.shared.openConnections.record(open.count)
        let afterwards: (@Sendable () async -> Void)? = await withTaskCancellationHandler {
            do {
                return try await connection.executeThenClose { inbound, outbound in
                    let session = MQTTSessionState(limits: configuration.limits)
                    return await MQTTConnection(front: front, channel: connection.channel, outbound: outbound, session: session)
                        .run(inbound)
                }
            } catch {
                front.logger.debug("MQTT connection ended", metadata: ["error": "\(error)"])
                return nil
            }
        } onCancel: {
            connection.channel.close(promise: nil)
        }
        open.leave()
        MQTTAccessMetrics.shared.openConnections.record(open.count)
        // An MQTT 5 will waiting out its delay, with the connection closed and uncounted.
        await afterwards?()
    }
}

/// The number of open connections, against the global limit.
final class OpenConnections: Sendable {
    private let value = Atomic<Int>(0)

    var count: Int { value.load(ordering: .relaxed) }

    func enter(limit: Int) -> Bool {
        var current = value.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = value.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() { value.subtract(1, ordering: .relaxed) }
}
