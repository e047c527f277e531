/// One row of the `transactions` table.
public struct TransactionRecord: Sendable, Hashable {
    public var transactionId: String
    public var messageId: String
    public var topic: String
    public var producerGroup: String
    public var clientId: String
    public var keys: String?
    public var tags: String?
    public var commitLogOffset: Int64
    public var commitLogSize: Int64
    public var createdAtMs: Int64
    public var state: TransactionState
    public var checkCount: Int
    public var lastCheckAtMs: Int64?
    /// nil unless the transaction is prepared.
    public var nextCheckAtMs: Int64?
    /// A check was sent and no outcome recorded yet.
    public var checkOutstanding: Bool
    public var resolvedAtMs: Int64?
    public var resolutionSource: ResolutionSource?
    public var resolvedBy: String?
    public var resolutionReason: String?
    public var firstCheckDelayMs: Int64?

    public init(
        transactionId: String, messageId: String, topic: String, producerGroup: String, clientId: String,
        keys: String?, tags: String?, commitLogOffset: Int64, commitLogSize: Int64, createdAtMs: Int64,
        state: TransactionState, checkCount: Int, lastCheckAtMs: Int64?, nextCheckAtMs: Int64?,
        checkOutstanding: Bool, resolvedAtMs: Int64?, resolutionSource: ResolutionSource?, resolvedBy: String?,
        resolutionReason: String?, firstCheckDelayMs: Int64?
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
        self.state = state
        self.checkCount = checkCount
        self.lastCheckAtMs = lastCheckAtMs
        self.nextCheckAtMs = nextCheckAtMs
        self.checkOutstanding = checkOutstanding
        self.resolvedAtMs = resolvedAtMs
        self.resolutionSource = resolutionSource
        self.resolvedBy = resolvedBy
        self.resolutionReason = resolutionReason
        self.firstCheckDelayMs = firstCheckDelayMs
    }
}
