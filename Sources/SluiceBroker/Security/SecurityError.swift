/// An error of the user and access-rule store or of a request's credentials: a code a caller can
/// switch on (the admin API maps it to an HTTP status) and a message saying what was wrong. A
/// message never contains a secret.
public struct SecurityError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A field (access key, secret, resource, actions) breaks a rule; the message names it.
        public static let invalidArgument = Code("invalidArgument")
        public static let userExists = Code("userExists")
        public static let userNotFound = Code("userNotFound")
        public static let ruleNotFound = Code("ruleNotFound")
        /// This broker follows its replicated group's leader: users and rules change there.
        public static let notLeader = Code("notLeader")
        /// The security tables could not be read or written.
        public static let storageFailure = Code("storageFailure")

        public var description: String { name }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
