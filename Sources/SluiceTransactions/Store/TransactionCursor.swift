/// Where a listing page ended: the (created_at_ms, transaction_id) of its last row.
///
/// Keyset pagination: the next page starts strictly after this key, so rows inserted or resolved
/// between pages never shift the pages or repeat a row.
public struct TransactionCursor: Sendable, Hashable {
    public var createdAtMs: Int64
    public var transactionId: String

    public init(createdAtMs: Int64, transactionId: String) {
        self.createdAtMs = createdAtMs
        self.transactionId = transactionId
    }

    /// An opaque string form for APIs: `<createdAtMs>.<transactionId>`.
    public var token: String {
        "\(createdAtMs).\(transactionId)"
    }

    /// Parses `token`; nil when it is malformed.
    public init?(token: String) {
        guard let dot = token.firstIndex(of: "."), let createdAtMs = Int64(token[..<dot]) else {
            return nil
        }
        let transactionId = String(token[token.index(after: dot)...])
        guard !transactionId.isEmpty else { return nil }
        self.init(createdAtMs: createdAtMs, transactionId: transactionId)
    }
}
