import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SluiceBroker
import SluiceProtocol

/// The RocketMQ HTTP access front (`--http-port`), compatible with `mq-http-sdk` 1.0.3: publish,
/// long-polling consume (orderly too), ack, and transactions with polled check-backs, on the
/// broker's `MessagingService`. Runs as one `Service` in the broker's group; see docs/access.md.
public struct HTTPAccessServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var limits: HTTPAccessLimits
        /// TLS from the gRPC port's settings (`--tls-cert`/`--tls-key`); nil for plain HTTP.
        public var tls: TLSConfiguration?

        public init(host: String, port: Int, limits: HTTPAccessLimits = HTTPAccessLimits(), tls: TLSConfiguration? = nil) {
            self.host = host
            self.port = port
            self.limits = limits
            self.tls = tls
        }
    }

    let configuration: Configuration
    let front: HTTPAccessFront
    let onListening: @Sendable (_ host: String, _ port: Int) -> Void

    public init(
        configuration: Configuration, service: MessagingService, access: AccessControl, mailbox: HTTPCheckMailbox,
        handle: BrokerHandle, logger: Logger, onListening: @escaping @Sendable (_ host: String, _ port: Int) -> Void
    ) {
        self.configuration = configuration
        self.front = HTTPAccessFront(
            service: service, access: access, mailbox: mailbox, handle: handle, limits: configuration.limits,
            logger: logger, hostId: "sluice")
        self.onListening = onListening
    }

    public var description: String { "HTTPAccessServer(\(configuration.host):\(configuration.port))" }

    static func router(_ front: HTTPAccessFront) -> Router<BasicRequestContext> {
        let router = Router()
        let path: RouterPath = "/topics/:topic/messages"
        router.post(path) { request, context in
            await front.run("publish", request, context) { call throws(HTTPAccessError) in
                try await front.publish(request, call)
            }
        }
        router.get(path) { request, context in
            await front.run("consume", request, context) { call throws(HTTPAccessError) in
                try await front.consume(request, call)
            }
        }
        router.delete(path) { request, context in
            await front.run("ack", request, context) { call throws(HTTPAccessError) in
                try await front.ack(request, call)
            }
        }
        return router
    }

    public func run() async throws {
        let host = configuration.host
        let port = configuration.port
        let onListening = self.onListening
        let application = Application(
            router: Self.router(front),
            server: try configuration.tls.map { try HTTPServerBuilder.tls(.http1(), tlsConfiguration: $0) }
                ?? HTTPServerBuilder.http1(),
            configuration: .init(address: .hostname(host, port: port), serverName: "sluice"),
            onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? port) },
            logger: front.logger
        )
        try await application.run()
    }
}
