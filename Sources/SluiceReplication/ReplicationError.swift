import SluiceStorage
import NIOCore
import Synchronization
import Logging
/// An error of the replication layer: a code to switch on, a message naming what was wrong, and
/// the cause where there is one.
public struct ReplicationError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case malformedFrame, unexpectedMessage, notLeader, staleEpoch, connectionFailed, timedOut, storage, unauthenticated
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Bytes on the replication port that are not a valid frame (length, kind or fields).
        public static let malformedFrame = Code(.malformedFrame)
        /// A valid message where another was expected (a fetch answered by a status).
        public static let unexpectedMessage = Code(.unexpectedMessage)
        /// The peer does not lead the group (any more).
        public static let notLeader = Code(.notLeader)
        /// A request carried an older epoch than the peer knows: the sender follows a deposed leader.
        public static let staleEpoch = Code(.staleEpoch)
        public static let connectionFailed = Code(.connectionFailed)
        public static let timedOut = Code(.timedOut)
        /// The local commit log refused (truncate, append, metadata).
        public static let storage = Code(.storage)
        /// The peer does not hold the group's replication key (or this broker has none yet), or
        /// a secret is unusable.
        public static let unauthenticated = Code(.unauthenticated)

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

    public var description: String {
        cause.map { "\(code): \(message) (\($0))" } ?? "\(code): \(message)"
    }
}
