import Synchronization

/// The broker's live components, for the parts that start before the store is open (the admin
/// API, the gRPC service): `StoreService` fills it once the log and the tables are open and
/// empties it when it begins to shut down. Readers get nil meanwhile and answer "not ready".
///
/// Thread-safe: read and written from any thread.
public final class BrokerHandle: Sendable {
    private struct Components {
        var topics: (any TopicRegistry)?
        var coordinator: TransactionCoordinator?
        var consumption: ConsumptionEngine?
    }

    private let recorder = Mutex<MessageTraceRecorder?>(nil)
    private let securityStore = Mutex<SecurityStore?>(nil)
    private let liteStore = Mutex<LiteSubscriptions?>(nil)
    private let retainedStore = Mutex<MQTTRetainedStore?>(nil)
    private let sessionStore = Mutex<MQTTSessionStore?>(nil)

    private let components: Mutex<Components>

    public init(
        topics: (any TopicRegistry)? = nil, coordinator: TransactionCoordinator? = nil,
        consumption: ConsumptionEngine? = nil
    ) {
        components = Mutex(Components(topics: topics, coordinator: coordinator, consumption: consumption))
    }

    /// The topic registry; nil until the store is open and after shutdown begins.
    public var topics: (any TopicRegistry)? {
        get { components.withLock { $0.topics } }
        set { components.withLock { $0.topics = newValue } }
    }

    /// The transaction coordinator; nil until the store is open and after shutdown begins.
    public var coordinator: TransactionCoordinator? {
        get { components.withLock { $0.coordinator } }
        set { components.withLock { $0.coordinator = newValue } }
    }

    /// Consumer groups, receive and ack; nil until the store is open and after shutdown begins.
    public var consumption: ConsumptionEngine? {
        get { components.withLock { $0.consumption } }
        set { components.withLock { $0.consumption = newValue } }
    }

    /// Sets them all at once, so a reader never sees one without the others.
    public func install(
        topics: (any TopicRegistry)?, coordinator: TransactionCoordinator?, consumption: ConsumptionEngine? = nil
    ) {
        components.withLock { $0 = Components(topics: topics, coordinator: coordinator, consumption: consumption) }
    }

    /// The message trace recorder; nil while the store is closed and when tracing is off.
    /// Consumption records deliveries, acks and dead letters through it.
    public var trace: MessageTraceRecorder? {
        get { recorder.withLock { $0 } }
        set { recorder.withLock { $0 = newValue } }
    }

    /// The consumer groups' lite topic subscriptions; nil while the store is closed.
    public var lite: LiteSubscriptions? {
        get { liteStore.withLock { $0 } }
        set { liteStore.withLock { $0 = newValue } }
    }

    /// The MQTT front's retained messages; nil while the store is closed.
    public var mqttRetained: MQTTRetainedStore? {
        get { retainedStore.withLock { $0 } }
        set { retainedStore.withLock { $0 = newValue } }
    }

    /// The MQTT front's sessions; nil while the store is closed.
    public var mqttSessions: MQTTSessionStore? {
        get { sessionStore.withLock { $0 } }
        set { sessionStore.withLock { $0 = newValue } }
    }

    /// Users and access rules; nil while the store is closed.
    public var security: SecurityStore? {
        get { securityStore.withLock { $0 } }
        set { securityStore.withLock { $0 = newValue } }
    }
}
