/// Which transactions an operator listing returns. Nil fields do not filter; set fields combine
/// with AND.
public struct TransactionFilter: Sendable, Hashable {
    public var state: TransactionState?
    /// Only transactions created strictly before this time ("older than").
    public var createdBeforeMs: Int64?
    public var producerGroup: String?
    public var topic: String?
    public var clientId: String?

    public init(
        state: TransactionState? = nil,
        createdBeforeMs: Int64? = nil,
        producerGroup: String? = nil,
        topic: String? = nil,
        clientId: String? = nil
    ) {
        self.state = state
        self.createdBeforeMs = createdBeforeMs
        self.producerGroup = producerGroup
        self.topic = topic
        self.clientId = clientId
    }
}
