/// An error from the etcd coordination client: what kind of failure, what was being done, and the
/// underlying cause (usually a gRPC `RPCError`).
public struct EtcdError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// An endpoint URL or a name used in a key could not be used.
        case invalidArgument
        /// etcd could not be reached, or did not answer within the request timeout.
        case unavailable
        /// etcd answered with an error status (for example a lease it does not know).
        case rejected
        /// The lease this client kept alive has expired or was revoked: everything attached to it
        /// (registration, leadership, ownership) is gone.
        case leaseLost
        /// A watch was cancelled by etcd (for example because its start revision was compacted).
        case watchCanceled
        /// A value stored in etcd did not have the shape Sluice writes.
        case malformedValue
        /// The waiting task was cancelled.
        case cancelled
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "etcd \(code.rawValue): \(message) (\(cause))" }
        return "etcd \(code.rawValue): \(message)"
    }
}
