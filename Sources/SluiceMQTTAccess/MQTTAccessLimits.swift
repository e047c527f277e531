/// What the MQTT front accepts, each limit with its reason.
public struct MQTTAccessLimits: Sendable, Hashable {
    /// The largest packet a client may send: a message body plus room for the topic and header.
    /// The decoder refuses a larger one from its fixed header, before buffering it.
    public var maxPacketBytes: Int
    /// Open connections across the front; one more is closed at once.
    public var maxConnections: Int
    /// Topic filters one connection may hold.
    public var maxSubscriptionsPerConnection: Int
    /// QoS 1 and 2 deliveries awaiting PUBACK or PUBREC on one connection (the pumps wait past
    /// it), and QoS 2 publishes from it awaiting PUBREL (one more closes it): `--mqtt-max-inflight`.
    public var maxInflightPerConnection: Int
    /// Unread messages a kept session (clean session 0) gets on its return, per Sluice topic;
    /// older ones are skipped. 0 for no limit but the log's retention: `--mqtt-max-queued`.
    public var maxQueuedPerSession: Int
    /// How long a new connection may take to send CONNECT.
    public var connectTimeout: Duration

    /// How long a QoS 1 delivery stays claimed in Sluice without its PUBACK before it is
    /// delivered again (to this client or, for a shared group, another member).
    public static let invisibleSeconds: Int64 = 30
    /// How long one receive waits for messages; short so a closed session's pump ends soon.
    public static let longPollSeconds: Int64 = 5

    /// - Parameter maxPacketBytes: nil for the largest body plus room for a topic and header.
    public init(
        maxBodyBytes: Int = 4 << 20, maxPacketBytes: Int? = nil, maxConnections: Int = 10_000,
        maxSubscriptionsPerConnection: Int = 64, maxInflightPerConnection: Int = 32, maxQueuedPerSession: Int = 0,
        connectTimeout: Duration = .seconds(10)
    ) {
        // A topic is at most 65,535 bytes; the header at most 5.
        let body = max(1, min(maxBodyBytes, 64 << 20))
        self.maxPacketBytes = maxPacketBytes.map { max(128, min($0, 268_435_460)) } ?? body + 65_535 + 7
        self.maxQueuedPerSession = max(0, maxQueuedPerSession)
        self.maxConnections = max(1, maxConnections)
        self.maxSubscriptionsPerConnection = max(1, maxSubscriptionsPerConnection)
        self.maxInflightPerConnection = max(1, min(maxInflightPerConnection, 1024))
        self.connectTimeout = connectTimeout
    }
}
