import NIOConcurrencyHelpers

/// The broker's live parts once the store is open, for the layers that start before it (the gRPC
/// front and the admin API listen during recovery and answer "not ready" until these are set).
public final class BrokerHandle: Sendable {
    private struct Parts {
        var topics: (any TopicRegistry)?
        var coordinator: TransactionCoordinator?
    }
    private let parts = NIOLockedValueBox(Parts())

    public init() {}

    public var topics: (any TopicRegistry)? {
        get { parts.withLockedValue { $0.topics } }
        set { parts.withLockedValue { $0.topics = newValue } }
    }

    public var coordinator: TransactionCoordinator? {
        get { parts.withLockedValue { $0.coordinator } }
        set { parts.withLockedValue { $0.coordinator = newValue } }
    }
}
