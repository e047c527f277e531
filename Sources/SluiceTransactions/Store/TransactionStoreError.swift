/// The error thrown by `TransactionStateStore`, the edge of the transaction layer.
public struct TransactionStoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Open: new codes may be added, so switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unknownTransaction
            case conflictingResolution
            case duplicateTransactionId
            case invalidArgument
            case storage
            case schemaTooNew
            case migrationFailed
            case closed
        }

        private let value: Value

        /// No transaction has the given id.
        public static let unknownTransaction = Code(value: .unknownTransaction)
        /// The resolution contradicts the transaction's final one (commit after rollback or the
        /// reverse), or the policy tried to resolve a parked transaction.
        public static let conflictingResolution = Code(value: .conflictingResolution)
        /// A new half message reused an existing transaction id for a different message.
        public static let duplicateTransactionId = Code(value: .duplicateTransactionId)
        /// An argument is out of range; the message names it and the limit.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// SQLite failed (disk full, I/O error, corruption, …); `cause` has the `SQLiteError`.
        public static let storage = Code(value: .storage)
        /// The database was written by a newer Sluice; nothing was changed.
        public static let schemaTooNew = Code(value: .schemaTooNew)
        /// A schema migration failed and was rolled back.
        public static let migrationFailed = Code(value: .migrationFailed)
        /// The store is closed.
        public static let closed = Code(value: .closed)

        public var description: String {
            switch value {
            case .unknownTransaction: "unknownTransaction"
            case .conflictingResolution: "conflictingResolution"
            case .duplicateTransactionId: "duplicateTransactionId"
            case .invalidArgument: "invalidArgument"
            case .storage: "storage"
            case .schemaTooNew: "schemaTooNew"
            case .migrationFailed: "migrationFailed"
            case .closed: "closed"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The transaction concerned, when there is one.
    public var transactionId: String?
    /// The underlying error (`SQLiteError`, `MigrationError`, `SQLiteExecutorError`).
    public var cause: (any Error)?

    public init(code: Code, message: String, transactionId: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.transactionId = transactionId
        self.cause = cause
    }

    /// Wraps an error from a lower layer; a `TransactionStoreError` is returned unchanged.
    init(wrapping error: any Error, while action: String) {
        switch error {
        case let error as TransactionStoreError:
            self = error
        case let error as MigrationError where error.code == .schemaTooNew:
            self.init(code: .schemaTooNew, message: error.message, cause: error)
        case let error as MigrationError:
            self.init(code: .migrationFailed, message: error.message, cause: error)
        case let error as SQLiteExecutorError where error.code == .closed:
            self.init(code: .closed, message: "cannot \(action): the transaction store is closed", cause: error)
        default:
            self.init(code: .storage, message: "cannot \(action): \(error)", cause: error)
        }
    }

    public var description: String {
        var text = "TransactionStoreError.\(code): \(message)"
        if let transactionId { text += " [transaction \(transactionId)]" }
        return text
    }
}
