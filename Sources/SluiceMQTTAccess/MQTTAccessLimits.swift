/// What the MQTT front accepts, each limit with its reason.
public struct MQTTAccessLimits: Sendable, Hashable {
    /// The largest packet a client may send: a message body plus room for the topic and header.
    /// The decoder refuses a larger one from its fixed header, before buffering it.
    public var maxPacketBytes: Int
    /// Open connections across the front; one more is closed at once.
    public var maxConnections: Int
    /// Topic filters one connection may hold.
    public var maxSubscriptionsPerConnection: Int
    /// QoS 1 deliveries awaiting PUBACK on one connection; the pumps wait past it.
    public var maxInflightPerConnection: Int
    /// How long a new connection may take to send CONNECT.
    public var connectTimeout: Duration

    /// How long a QoS 1 delivery stays claimed in Sluice without its PUBACK before it is
    /// delivered again (to this client or, for a shared group, another member).
    public static let invisibleSeconds: Int64 = 30
    /// How long one receive waits for messages; short so a closed session's pump ends soon.
    public static let longPollSeconds: Int64 = 5

    public init(
        maxBodyBytes: Int = 4 << 20, maxConnections: Int = 10_000, maxSubscriptionsPerConnection: Int = 64,
        maxInflightPerConnection: Int = 32, connectTimeout: Duration = .seconds(10)
    ) {
        // A topic is at most 65,535 bytes; the header at most 5.
        let body = max(1, min(maxBodyBytes, 64 << 20))
        self.maxPacketBytes = body + 65_535 + 7
        self.maxConnections = max(1, maxConnections)
        self.maxSubscriptionsPerConnection = max(1, maxSubscriptionsPerConnection)
        self.maxInflightPerConnection = max(1, min(maxInflightPerConnection, 1024))
        self.connectTimeout = connectTimeout
    }
}
