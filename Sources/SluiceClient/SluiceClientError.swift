/// An error from the Sluice client: what went wrong, the RocketMQ status code the broker answered
/// (when it answered), its message, and the underlying cause.
///
/// Matching on `code` tells the kind of failure; `rocketMQCode` carries the broker's own code
/// (for example 40402 TOPIC_NOT_FOUND) so it can be looked up in the protocol's `Code` table.
public struct SluiceClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Open: new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The broker answered with a non-OK status; `rocketMQCode` and `message` say which.
        public static let brokerRejected = Code("brokerRejected")
        /// The call did not reach the broker or its answer did not come back (connection refused,
        /// reset, deadline exceeded).
        public static let transportFailed = Code("transportFailed")
        /// The message or argument was refused before anything was sent.
        public static let invalidArgument = Code("invalidArgument")
        /// The client was shut down (or is shutting down) and takes no new work.
        public static let clientClosed = Code("clientClosed")
        /// The broker's answer did not have the shape the protocol promises.
        public static let unexpectedResponse = Code("unexpectedResponse")
    }

    public let code: Code
    /// The RocketMQ status code (`apache.rocketmq.v2.Code`) the broker answered, if it answered.
    public let rocketMQCode: Int?
    /// What was wrong, in the broker's words when it answered.
    public let message: String
    /// The underlying error, e.g. a gRPC `RPCError`.
    public let cause: (any Error)?

    public init(code: Code, rocketMQCode: Int? = nil, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.rocketMQCode = rocketMQCode
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "\(code.name)"
        if let rocketMQCode { text += " \(rocketMQCode)" }
        text += ": \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }

    /// Whether trying the same call again may succeed: throttling, broker-side internal errors and
    /// timeouts, and transport failures. Bad requests, unknown topics and permission errors are final.
    public var isRetryable: Bool {
        switch code {
        case .transportFailed: return true
        case .brokerRejected:
            guard let rocketMQCode else { return false }
            return Self.retryableCodes.contains(rocketMQCode)
        default: return false
        }
    }

    /// TOO_MANY_REQUESTS, REQUEST_TIMEOUT, INTERNAL_ERROR, INTERNAL_SERVER_ERROR, HA_NOT_AVAILABLE,
    /// PROXY_TIMEOUT, MASTER/SLAVE_PERSISTENCE_TIMEOUT (the codes the Java client also retries on).
    static let retryableCodes: Set<Int> = [42900, 40800, 50000, 50001, 50002, 50400, 50401, 50402]
}
