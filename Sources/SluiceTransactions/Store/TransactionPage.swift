/// One page of an operator listing, oldest first.
public struct TransactionPage: Sendable, Hashable {
    public var records: [TransactionRecord]
    /// Pass to the next call to continue; nil on the last page.
    public var nextCursor: TransactionCursor?

    public init(records: [TransactionRecord], nextCursor: TransactionCursor?) {
        self.records = records
        self.nextCursor = nextCursor
    }
}
