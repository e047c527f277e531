/// An error from the storage engine: a code a caller can switch on, a message that names the
/// field, file or range at fault, and the underlying cause where there is one.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as an open set of codes (new codes may be added).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case io, diskFull, corruptRecord, notFound, invalidArgument, recordTooLarge
            case dataDirectoryLocked, closed, offsetOutOfRange, inconsistentIndex
            case notLeader, replicationTimeout, replicaMismatch
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A system call failed; `errno` is in the message.
        public static let io = Code(.io)
        /// The file system has no room: nothing was written, what was stored is intact.
        public static let diskFull = Code(.diskFull)
        /// A record failed its checksum or framing checks; the message names the byte range.
        public static let corruptRecord = Code(.corruptRecord)
        /// No record at that offset, id or key.
        public static let notFound = Code(.notFound)
        /// A caller-supplied value is out of bounds; the message names it and the limit.
        public static let invalidArgument = Code(.invalidArgument)
        /// The encoded record does not fit in one segment.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// Another process holds the data folder's lock file.
        public static let dataDirectoryLocked = Code(.dataDirectoryLocked)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The offset lies before the oldest retained record or past the end.
        public static let offsetOutOfRange = Code(.offsetOutOfRange)
        /// An index entry disagrees with the record it points at.
        public static let inconsistentIndex = Code(.inconsistentIndex)

        /// This log follows a leader (replication): it takes only the leader's records.
        public static let notLeader = Code(.notLeader)
        /// The record is stored here but the replicas a sync acknowledgement needs did not confirm
        /// it in time; it may or may not survive a fail-over.
        public static let replicationTimeout = Code(.replicationTimeout)
        /// Replicated bytes do not continue this log where it ends (wrong offset, bad framing).
        public static let replicaMismatch = Code(.replicaMismatch)

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

    /// The code and message; the message already spells out the cause where there is one.
    public var description: String { "\(code): \(message)" }
}

/// A failed system call: the call's name, the path it touched and `errno`.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var path: String
    public var errno: Int32

    public var description: String {
        "\(call)(\(path)) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// Maps ENOSPC/EDQUOT to `.diskFull`, anything else to `.io`.
    func storageError(_ context: String) -> StorageError {
        let code: StorageError.Code = (errno == ENOSPC || errno == EDQUOT) ? .diskFull : .io
        return StorageError(code, "\(context): \(description)", cause: self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
