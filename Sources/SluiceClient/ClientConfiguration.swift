import Logging

/// Where a client connects and how patient it is.
public struct ClientConfiguration: Sendable {
    /// The broker's gRPC host (an IPv4/IPv6 literal or a host name).
    public var host: String
    /// The broker's gRPC port (RocketMQ proxies and Sluice default to 8081).
    public var port: Int
    /// Deadline of each unary call (send, ack, end transaction, route, heartbeat).
    public var requestTimeout: Duration
    /// The RocketMQ namespace written into every resource; empty for none.
    public var namespace: String
    /// Heartbeat period; the broker forgets a client it has not heard from for about 120 s.
    public var heartbeatInterval: Duration
    /// Route refresh period for the topics this client uses.
    public var routeRefreshInterval: Duration
    /// Telemetry reconnect backoff: first delay and cap (doubled after each failed attempt).
    public var reconnectBackoffInitial: Duration
    public var reconnectBackoffMax: Duration
    /// How long a graceful shutdown waits for in-flight work before cancelling it.
    public var shutdownGracePeriod: Duration
    /// Sign every call with an access key (for a broker started with `--auth on`); nil: anonymous.
    public var credentials: ClientCredentials?
    /// TLS to the broker (for a broker started with `--tls-cert`); nil: plaintext.
    public var tls: ClientTLS?
    public var logger: Logger

    public init(
        host: String = "127.0.0.1", port: Int = 8081, requestTimeout: Duration = .seconds(3), namespace: String = "",
        credentials: ClientCredentials? = nil, tls: ClientTLS? = nil, logger: Logger = Logger(label: "sluice.client")
    ) {
        self.credentials = credentials
        self.tls = tls
        self.host = host
        self.port = port
        self.requestTimeout = requestTimeout
        self.namespace = namespace
        self.heartbeatInterval = .seconds(10)
        self.routeRefreshInterval = .seconds(30)
        self.reconnectBackoffInitial = .milliseconds(100)
        self.reconnectBackoffMax = .seconds(10)
        self.shutdownGracePeriod = .seconds(10)
        self.logger = logger
    }
}

/// How a producer retries a failed send.
public struct SendRetryPolicy: Sendable {
    /// Attempts in all, including the first (at least 1).
    public var maxAttempts: Int
    /// Delay before the second attempt; doubled before each further one, up to `maxBackoff`.
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 3, initialBackoff: Duration = .milliseconds(10), maxBackoff: Duration = .seconds(1)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// The delay after failed attempt `attempt` (1-based).
    func backoff(afterAttempt attempt: Int) -> Duration {
        var delay = initialBackoff
        for _ in 1..<max(1, attempt) {
            delay = delay * 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return min(delay, maxBackoff)
    }
}
