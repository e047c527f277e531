/// An error at the broker's edge: a code a caller can switch on, a message that names the setting,
/// address or folder at fault, and the underlying cause where there is one.
public struct BrokerError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as an open set of codes (new codes may be added).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidConfiguration, addressUnavailable, storageUnavailable
            case invalidMessage, transactionNotFound, transactionConflict, storageFailure
            case invalidArgument, topicNotFound, topicExists
            case groupNotFound, invalidReceiptHandle, staleReceiptHandle
            case limitExceeded, notRecallable, notLeader, clusterUnavailable
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A flag, environment variable or config-file key has a value the broker cannot use; the
        /// message names the setting, where it came from, and what was expected.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A listener could not bind (port in use, address not local, permission); the message
        /// names the address.
        public static let addressUnavailable = Code(.addressUnavailable)
        /// The commit log could not be opened (folder locked by another broker, unreadable, full).
        public static let storageUnavailable = Code(.storageUnavailable)

        /// A message or request field is unusable; the message names the field and the limit.
        public static let invalidMessage = Code(.invalidMessage)
        /// No transaction with that id (never prepared here, or its record was retired).
        public static let transactionNotFound = Code(.transactionNotFound)
        /// The opposite resolution was already applied (commit after rollback, or the reverse).
        public static let transactionConflict = Code(.transactionConflict)
        /// The commit log or the transaction table failed (disk full, I/O error); nothing was
        /// acknowledged that is not stored.
        public static let storageFailure = Code(.storageFailure)

        /// A request argument (a topic name, a queue count, a message type) breaks a rule; the
        /// message names the argument and the rule.
        public static let invalidArgument = Code(.invalidArgument)
        /// No topic with that name exists.
        public static let topicNotFound = Code(.topicNotFound)
        /// A topic with that name exists with a different message type or queue count; the
        /// message names the difference.
        public static let topicExists = Code(.topicExists)
        /// No consumer group with that name exists.
        public static let groupNotFound = Code(.groupNotFound)
        /// A receipt handle that this broker did not issue for that group and topic (forged,
        /// damaged, or meant for another group).
        public static let invalidReceiptHandle = Code(.invalidReceiptHandle)
        /// A genuine receipt handle of an earlier delivery: the message was delivered again, or its
        /// invisible duration changed, since; the newest handle must be used.
        public static let staleReceiptHandle = Code(.staleReceiptHandle)
        /// A limit an operator set (`--max-groups`, ...) would be exceeded; the message names the
        /// limit and its flag.
        public static let limitExceeded = Code(.limitExceeded)
        /// A DELAY message cannot be recalled: no longer stored, already due (delivered), or
        /// recalled before; the message says which.
        public static let notRecallable = Code(.notRecallable)
        /// This broker follows its replicated group's leader and the change (a topic create or
        /// delete) must be made there; the message names the leader when it is known.
        public static let notLeader = Code(.notLeader)
        /// A cluster broker (`--etcd`) could not read or write what the change needs in etcd (a
        /// new topic's route); nothing was changed, and a retry once etcd answers will do.
        public static let clusterUnavailable = Code(.clusterUnavailable)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message alone: it already says what failed and how to fix it.
    public var description: String { message }

    /// The message and the chain of causes, for logs.
    public var detailedDescription: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
