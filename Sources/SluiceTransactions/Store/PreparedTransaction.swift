/// A half message the broker has appended to the commit log, to be recorded as prepared.
public struct PreparedTransaction: Sendable, Hashable {
    public var transactionId: String
    public var messageId: String
    public var topic: String
    public var producerGroup: String
    /// The client instance that sent it; checks go back to it.
    public var clientId: String
    public var keys: String?
    public var tags: String?
    public var commitLogOffset: Int64
    public var commitLogSize: Int64
    public var createdAtMs: Int64
    /// Overrides the store's default delay before the first check.
    public var firstCheckDelayMs: Int64?

    public init(
        transactionId: String,
        messageId: String,
        topic: String,
        producerGroup: String = "",
        clientId: String,
        keys: String? = nil,
        tags: String? = nil,
        commitLogOffset: Int64,
        commitLogSize: Int64,
        createdAtMs: Int64,
        firstCheckDelayMs: Int64? = nil
    ) {
        self.transactionId = transactionId
        self.messageId = messageId
        self.topic = topic
        self.producerGroup = producerGroup
        self.clientId = clientId
        self.keys = keys
        self.tags = tags
        self.commitLogOffset = commitLogOffset
        self.commitLogSize = commitLogSize
        self.createdAtMs = createdAtMs
        self.firstCheckDelayMs = firstCheckDelayMs
    }
}
