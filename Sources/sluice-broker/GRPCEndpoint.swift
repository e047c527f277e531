import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import SluiceBroker

/// The RocketMQ gRPC listener as a `Service`, serving `services` (the MessagingService). It binds
/// the port at startup, during recovery, so that a port conflict is reported at once.
struct GRPCEndpoint: Service, CustomStringConvertible {
    var host: String
    var port: Int
    var logger: Logger
    /// Plaintext or TLS (`--tls-cert`; see `TLSReloading`).
    var security: HTTP2ServerTransport.Posix.TransportSecurity = .plaintext
    var onListening: @Sendable (_ host: String, _ port: Int) -> Void
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
            config: .defaults { $0.rpc.maxRequestPayloadSize = Self.maxRequestPayloadBytes })
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

    /// grpc-swift wraps the socket error in `RuntimeError`s; the innermost cause names errno.
    static func rootCause(of error: any Error) -> any Error {
        var current = error
        while let runtime = current as? RuntimeError, let cause = runtime.cause {
            current = cause
        }
        return current
    }
}
