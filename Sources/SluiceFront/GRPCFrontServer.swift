import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SluiceBroker
import SluiceProtocol
import SluiceWire
import Synchronization

/// Sluice's own gRPC server: HTTP/2 from swift-nio-http2, gRPC framing and dispatch written here,
/// straight onto `MessagingService` with one task per call.
///
/// It exists for cost: grpc-swift's server runs each call through an executor of several tasks
/// and async sequences, which measured about 100 µs of CPU per call on the send path (see
/// docs/benchmarks.md, "gRPC path CPU"). The wire protocol is the same; `--grpc-server
/// grpc-swift` still serves through grpc-swift.
public struct GRPCFrontServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var limits: FrontDoorLimits
        /// The largest request message (gRPC length prefix) accepted.
        public var maxRequestMessageBytes: Int
        /// TLS for every connection (ALPN `h2` is added), or nil for plaintext HTTP/2.
        public var tls: TLSConfiguration?
        /// How long a graceful shutdown waits for unary calls in flight.
        public var drainTimeout: Duration = .seconds(5)

        public init(host: String, port: Int, limits: FrontDoorLimits, maxRequestMessageBytes: Int, tls: TLSConfiguration?) {
            self.host = host
            self.port = port
            self.limits = limits
            self.maxRequestMessageBytes = maxRequestMessageBytes
            self.tls = tls
        }
    }

    let configuration: Configuration
    let shared: FrontShared
    let logger: Logger

    public init(
        configuration: Configuration, service: some Apache_Rocketmq_V2_MessagingService.ServiceProtocol, logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        shared = FrontShared(
            routes: MessagingRoutes.table(service), maxMessageBytes: configuration.maxRequestMessageBytes,
            maxBufferedBytes: configuration.limits.maxBufferedRequestBytes)
    }

    /// Binds, reports the bound address, serves until a graceful shutdown, then drains: streaming
    /// calls are cancelled, unary calls get `drainTimeout` to finish, connections get GOAWAY and
    /// are closed.
    public func run(onListening: @Sendable (_ host: String, _ port: Int) -> Void) async throws {
        let sslContext: NIOSSLContext? = try configuration.tls.map { tls in
            var tls = tls
            tls.applicationProtocols = ["h2"]
            return try NIOSSLContext(configuration: tls)
        }
        let gate = ConnectionGate(maxConnections: configuration.limits.maxConnections)
        let connections = FrontConnections()
        let shared = self.shared
        let http2 = Self.http2Configuration(configuration.limits)
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A client that vanished without a FIN (power, network) is found by TCP keepalive;
            // its streams are then cancelled like any closed connection's.
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                guard gate.tryOpen() else {
                    logger.debug("connection refused: --grpc-max-connections reached")
                    return channel.eventLoop.makeFailedFuture(ConnectionLimitReached(limit: gate.maxConnections))
                }
                connections.add(channel)
                channel.closeFuture.whenComplete { _ in
                    gate.closed()
                    connections.remove(channel)
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext { try pipeline.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    let coalescer = FlushCoalescer()
                    try pipeline.addHandler(coalescer)
                    // Frame mode (no stream multiplexer): `GRPCConnectionHandler` reads every
                    // stream's frames itself, with no child channel per call. The coalescer hears
                    // of each frame written, to tell PING acknowledgements from the rest.
                    try pipeline.addHandler(
                        NIOHTTP2Handler(
                            mode: .server, frameDelegate: coalescer, connectionConfiguration: http2.connection,
                            streamConfiguration: http2.stream))
                    try pipeline.addHandler(
                        GRPCConnectionHandler(shared: shared, windowTarget: http2.windowTarget, flushCoalescer: coalescer))
                    try pipeline.addHandler(ConnectionErrorLogger(logger: logger))
                }
            }
        let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        onListening(configuration.host, listener.localAddress?.port ?? configuration.port)
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await listener.closeFuture.get()
            } onCancel: {
                listener.close(promise: nil)
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
        }
        await drain(connections)
        logger.debug("gRPC front stopped")
    }

    private func drain(_ connections: FrontConnections) async {
        shared.calls.cancelStreaming()
        for connection in connections.all {
            connection.writeAndFlush(
                HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil)),
                promise: nil)
        }
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while shared.calls.unaryInFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for connection in connections.all { connection.close(promise: nil) }
    }

    static func http2Configuration(_ limits: FrontDoorLimits)
        -> (connection: NIOHTTP2Handler.ConnectionConfiguration, stream: NIOHTTP2Handler.StreamConfiguration, windowTarget: Int)
    {
        // 1 MiB windows: a 4 MiB body takes four round trips' worth of window updates, and one
        // connection can hold at most this much unread per stream. In frame mode swift-nio-http2
        // sends no WINDOW_UPDATE itself (its `targetWindowSize` settings are the multiplexer's):
        // `GRPCConnectionHandler` keeps stream and connection windows at `windowTarget`.
        let window = 1 << 20
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        // The request checks that matter are made in `GRPCHeaders.request`, in the pass that
        // reads the headers anyway; swift-nio-http2's validation also re-checked every response
        // header block Sluice builds itself (~6 % of CPU per publish at 256 in flight).
        connection.headerBlockValidation = .disabled
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maxConcurrentStreamsPerConnection),
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 << 10),
        ]
        // swift-nio-http2 closes a connection that sends more than 200 PING or SETTINGS frames in
        // 30 s (GOAWAY ENHANCE_YOUR_CALM). grpc-go sends a PING each round trip while data flows
        // (its BDP estimator: thousands a second on loopback), so a busy grpc-go client lost its
        // connection every ~150 ms, and the GOAWAY's last stream id 0 made grpc-go retry every
        // call in flight, calls the broker had already stored: the duplicates of issue 12. A
        // flood guard stays, sized for that client: 5,000 control frames a second.
        connection.controlFrameRateLimit.maximumCount = 5_000
        connection.controlFrameRateLimit.windowLength = .seconds(1)
        var stream = NIOHTTP2Handler.StreamConfiguration()
        // Clients cancel calls (a consumer closing, a request timeout) with RST_STREAM; 200 in
        // 30 s is too few for a busy client, 1,000 a second still stops a reset flood.
        stream.streamResetFrameRateLimit.maximumCount = 1_000
        stream.streamResetFrameRateLimit.windowLength = .seconds(1)
        return (connection, stream, window)
    }

    struct ConnectionLimitReached: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "the broker has \(limit) gRPC connections (--grpc-max-connections)" }
    }
}

/// The open connections, for GOAWAY and close at shutdown.
final class FrontConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
    var all: [any Channel] { channels.withLock { Array($0.values) } }
}

/// Logs why a connection failed (a protocol error from a client, a TLS handshake failure) at
/// debug level and closes it; nothing a client sends is worth more than that.
final class ConnectionErrorLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("gRPC connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
