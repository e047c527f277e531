/// One operator or policy action (an `audit_log` row).
public struct AuditEntry: Sendable, Hashable {
    public var id: Int64
    public var atMs: Int64
    /// The operator's name, or `policy`.
    public var actor: String
    /// What was attempted, e.g. `resolve.commit`, `park`.
    public var action: String
    public var transactionId: String?
    /// What happened, e.g. `prepared -> committed`, `refused: …`.
    public var detail: String?
    public var reason: String?

    public init(
        id: Int64, atMs: Int64, actor: String, action: String, transactionId: String?, detail: String?,
        reason: String?
    ) {
        self.id = id
        self.atMs = atMs
        self.actor = actor
        self.action = action
        self.transactionId = transactionId
        self.detail = detail
        self.reason = reason
    }
}
