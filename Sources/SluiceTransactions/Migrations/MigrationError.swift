/// Why the schema could not be brought up to date.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Open: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case schemaTooNew
            case migrationFailed
            case historyMismatch
            case invalidMigrations
        }

        private let value: Value

        /// The database has a migration newer than any this binary knows: it was written by a
        /// newer Sluice. Nothing was changed.
        public static let schemaTooNew = Code(value: .schemaTooNew)
        /// A migration's SQL failed. It was rolled back; the migrations before it stay applied.
        public static let migrationFailed = Code(value: .migrationFailed)
        /// The applied migrations do not match this binary's (a different name, or a gap).
        public static let historyMismatch = Code(value: .historyMismatch)
        /// The migration list itself is malformed (versions not positive and strictly increasing).
        public static let invalidMigrations = Code(value: .invalidMigrations)

        public var description: String {
            switch value {
            case .schemaTooNew: "schemaTooNew"
            case .migrationFailed: "migrationFailed"
            case .historyMismatch: "historyMismatch"
            case .invalidMigrations: "invalidMigrations"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The migration concerned, when there is one.
    public var version: Int?
    /// The underlying error, usually a `SQLiteError`.
    public var cause: (any Error)?

    public init(code: Code, message: String, version: Int? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.version = version
        self.cause = cause
    }

    public var description: String {
        var text = "MigrationError.\(code): \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
