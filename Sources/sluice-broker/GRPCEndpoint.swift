import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import ServiceLifecycle
import SluiceBroker
import SluiceProtocol

/// The RocketMQ gRPC listener as a `Service`, serving `services` (the MessagingService). It binds
/// the port at startup, during recovery, so that a port conflict is reported at once.
struct GRPCEndpoint: Service, CustomStringConvertible {
    var host: String
    var port: Int
    var logger: Logger
    /// Plaintext or TLS (`--tls-cert`; see `TLSReloading`).
    var security: HTTP2ServerTransport.Posix.TransportSecurity = .plaintext
    var onListening: @Sendable (_ host: String, _ port: Int) -> Void
    /// Connections and streams per connection (calls and bodies are bounded in MessagingService).
    var limits = FrontDoorLimits()
    var services: [any RegistrableRPCService] = []

    /// RocketMQ allows 4 MiB bodies plus properties and headers; grpc-swift's default limit is
    /// exactly 4 MiB, so raise it to keep the protocol's own limit the one clients hit.
    /// Twice the 4 MiB body limit plus framing, so an oversized body gets MESSAGE_BODY_TOO_LARGE
    /// with its size rather than a bare RESOURCE_EXHAUSTED.
    static let maxRequestPayloadBytes = 9 << 20

    var description: String { "GRPCEndpoint(\(host):\(port))" }

    /// - Throws: `BrokerError` `.addressUnavailable` naming the address when it cannot bind.
    func run() async throws {
        let address: GRPCNIOTransportCore.SocketAddress =
            host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        let transport = HTTP2ServerTransport.Posix(
            address: address, transportSecurity: security,
            config: Self.transportConfig(limits, gate: ConnectionGate(maxConnections: limits.maxConnections)))
        let server = GRPCServer(transport: transport, services: services)
        var listening = false
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await server.serve() }
                    // Throws when the bind failed; then `serve()` rethrows the real cause.
                    if let bound = try? await transport.listeningAddress {
                        listening = true
                        onListening(host, bound.ipv4?.port ?? bound.ipv6?.port ?? port)
                    }
                }
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        } catch where !listening {
            throw ListenFailure.brokerError(
                endpoint: "gRPC", host: host, port: port, flag: "--grpc-port", Self.rootCause(of: error))
        }
        logger.debug("gRPC endpoint stopped")
    }

    /// The transport's settings: see docs/protocol.md, "Overload", for why each one is set.
    static func transportConfig(_ limits: FrontDoorLimits, gate: ConnectionGate) -> HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = maxRequestPayloadBytes
        // Advertised, so clients queue calls past it. Unset, nothing is advertised (clients assume
        // no limit) while swift-nio-http2 still enforces 100 and answers stream 101 with a
        // connection error: GOAWAY PROTOCOL_ERROR, and every call on the connection fails.
        config.http2.maxConcurrentStreams = limits.maxConcurrentStreamsPerConnection
        // gRPC's servers strike a ping closer than 5 minutes after the last one unless the server
        // wrote data in between, and close the connection on the third strike (GOAWAY
        // ENHANCE_YOUR_CALM "too_many_pings"). A long poll writes nothing for up to 60 s, so allow
        // client keepalives down to 10 s, with or without calls.
        config.connection.keepalive.clientBehavior = .init(minPingIntervalWithoutCalls: .seconds(10), allowWithoutCalls: true)
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            guard gate.tryOpen() else {
                // A failed initializer makes NIO close the connection before HTTP/2 starts.
                return channel.eventLoop.makeFailedFuture(ConnectionLimitReached(limit: gate.maxConnections))
            }
            channel.closeFuture.whenComplete { _ in gate.closed() }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        return config
    }

    struct ConnectionLimitReached: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "the broker has \(limit) gRPC connections (--grpc-max-connections)" }
    }

    /// grpc-swift wraps the socket error in `RuntimeError`s; the innermost cause names errno.
    static func rootCause(of error: any Error) -> any Error {
        var current = error
        while let runtime = current as? RuntimeError, let cause = runtime.cause {
            current = cause
        }
        return current
    }
}
