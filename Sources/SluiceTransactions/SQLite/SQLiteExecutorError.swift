/// An error from `SQLiteExecutor` itself, as opposed to one from SQLite (`SQLiteError`) or from a
/// caller's body (passed through unchanged).
public struct SQLiteExecutorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Open: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case closed
            case rolledBackByNeighbour
        }

        private let value: Value

        /// The executor was closed before the work was accepted.
        public static let closed = Code(value: .closed)
        /// The write succeeded, but SQLite rolled back the whole batch transaction because a later
        /// write in the same batch hit an error that aborts transactions (for example `SQLITE_FULL`).
        /// Nothing of this write was committed; retrying it is safe.
        public static let rolledBackByNeighbour = Code(value: .rolledBackByNeighbour)

        public var description: String {
            switch value {
            case .closed: "closed"
            case .rolledBackByNeighbour: "rolledBackByNeighbour"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error)?

    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "SQLiteExecutorError.\(code): \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
