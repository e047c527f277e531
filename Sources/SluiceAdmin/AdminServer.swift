import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SluiceBroker
import SluiceStorage

/// The admin HTTP API as a `Service`: `/healthz`, `/readyz`, `/metrics`, `/v1/topics`,
/// `/v1/transactions`, `/v1/messages`, `/v1/audit`, `/v1/cluster`, and the web dashboard at `/`.
///
/// It starts listening at once, independent of the store, so that scripts can poll `/readyz`
/// while the commit log recovers. With a token, every other route needs
/// `Authorization: Bearer <token>` (`AdminAuthMiddleware`).
public struct AdminServer: Service, CustomStringConvertible {
    public var host: String
    public var port: Int
    private let readiness: Readiness
    private let handle: BrokerHandle
    private let registry: PrometheusCollectorRegistry
    private let adminToken: String?
    /// HTTPS when set (`--admin-tls-cert`); its `sslContextCallback` supplies reloaded certificates.
    private let tls: TLSConfiguration?
    private let logger: Logger
    private let clusterStatus: ClusterStatusSource?
    private let onListening: @Sendable (_ host: String, _ port: Int) -> Void

    /// - Parameter onListening: called once the socket listens, with the bound port (which
    ///   differs from `port` when `port` is 0).
    /// - Parameter handle: where `StoreService` publishes the open store; the `/v1/...` routes
    ///   answer 503 until it does.
    /// - Parameter adminToken: the bearer token every route but the probes requires; nil leaves
    ///   the API open (the configuration allows that only on loopback).
    public init(
        host: String, port: Int, readiness: Readiness, handle: BrokerHandle = BrokerHandle(),
        registry: PrometheusCollectorRegistry, adminToken: String? = nil, tls: TLSConfiguration? = nil, logger: Logger,
        clusterStatus: ClusterStatusSource? = nil,
        onListening: @escaping @Sendable (_ host: String, _ port: Int) -> Void
    ) {
        self.host = host
        self.port = port
        self.readiness = readiness
        self.handle = handle
        self.registry = registry
        self.adminToken = adminToken
        self.tls = tls
        self.logger = logger
        self.clusterStatus = clusterStatus
        self.onListening = onListening
    }

    public var description: String { "AdminServer(\(host):\(port))" }

    static func router(
        readiness: Readiness, handle: BrokerHandle, registry: PrometheusCollectorRegistry,
        adminToken: String? = nil, nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        clusterStatus: ClusterStatusSource? = nil
    ) -> Router<BasicRequestContext> {
        let router = Router()
        // Middleware first: routes capture the middleware present when they are added. The error
        // middleware is outermost so that a refused token is a JSON error like any other.
        router.add(middleware: JSONErrorMiddleware())
        if let adminToken {
            router.add(middleware: AdminAuthMiddleware(token: AdminToken(adminToken)))
        }
        HealthRoutes.add(to: router, readiness: readiness)
        MetricsRoute.add(to: router, registry: registry)
        TopicRoutes.add(to: router, readiness: readiness, handle: handle)
        GroupRoutes.add(to: router, readiness: readiness, handle: handle)
        GroupResetRoute.add(to: router, readiness: readiness, handle: handle)
        GroupLiteRoute.add(to: router, readiness: readiness, handle: handle)
        TransactionRoutes.add(to: router, readiness: readiness, handle: handle, nowMs: nowMs)
        MessageRoutes.add(to: router, readiness: readiness, handle: handle)
        LogRoutes.add(to: router, readiness: readiness, handle: handle)
        AuditRoutes.add(to: router, readiness: readiness, handle: handle)
        SecurityRoutes.add(to: router, readiness: readiness, handle: handle)
        ClusterRoutes.add(to: router, source: clusterStatus)
        DashboardRoutes.add(to: router)
        return router
    }

    /// - Throws: `BrokerError` `.addressUnavailable` naming the address when it cannot listen.
    public func run() async throws {
        // A port in use is found by a bind of our own first: Hummingbird's own bind failure
        // cancels its inner service group, and under load that cancellation was seen to hang
        // (the broker then never exited; PortConflictTests, one run in six on a loaded machine).
        if port != 0 {
            do {
                let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: host, port: port).get()
                try await probe.close()
            } catch {
                throw ListenFailure.brokerError(endpoint: "admin HTTP", host: host, port: port, flag: "--admin-port", error)
            }
        }
        let listening = ListenFlag()
        let application = Application(
            router: Self.router(
                readiness: readiness, handle: handle, registry: registry, adminToken: adminToken,
                clusterStatus: clusterStatus),
            server: try tls.map { try HTTPServerBuilder.tls(.http1(), tlsConfiguration: $0) } ?? HTTPServerBuilder.http1(),
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { [host, port, onListening] channel in
                listening.set()
                onListening(host, channel.localAddress?.port ?? port)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch where !listening.isSet {
            throw ListenFailure.brokerError(endpoint: "admin HTTP", host: host, port: port, flag: "--admin-port", error)
        }
    }
}
