import SluiceBroker
import SluiceStorage
import SluiceWire

typealias Code = Apache_Rocketmq_V2_Code
typealias Status = Apache_Rocketmq_V2_Status

extension Apache_Rocketmq_V2_Status {
    static let ok = Status(.ok, "OK")

    init(_ code: Code, _ message: String) {
        self.init()
        self.code = code
        self.message = message
    }
}

/// A refusal with a RocketMQ code and a message saying what was wrong: every RPC answers one
/// in its top-level status instead of failing the call.
struct ProtocolRefusal: Error, Sendable {
    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var status: Status { Status(code, message) }

    /// The RocketMQ code for a broker-layer failure.
    init(_ error: BrokerError) {
        if let storage = error.cause as? StorageError, let refusal = Self.replicationRefusal(storage) {
            self = refusal
            return
        }
        switch error.code {
        case .invalidMessage: self.init(.badRequest, error.message)
        case .transactionNotFound: self.init(.invalidTransactionID, error.message)
        case .transactionConflict: self.init(.badRequest, error.message)
        case .invalidReceiptHandle, .staleReceiptHandle: self.init(.invalidReceiptHandle, error.message)
        case .groupNotFound: self.init(.consumerGroupNotFound, error.message)
        case .topicNotFound: self.init(.topicNotFound, error.message)
        case .invalidArgument: self.init(.badRequest, error.message)
        case .limitExceeded: self.init(.tooManyRequests, error.message)
        // NOT_FOUND, not MESSAGE_NOT_FOUND: the official clients read MESSAGE_NOT_FOUND as "an
        // empty receive" and treat it as success, so a failed recall would look like a recall.
        case .notRecallable: self.init(.notFound, error.message)
        default: self.init(.internalError, error.message)
        }
    }
}

extension ProtocolRefusal {
    /// Replication's refusals of a stored record (`--replicas` 2 or more): SLAVE_PERSISTENCE_TIMEOUT
    /// when followers did not confirm in time (the record is on the leader and may or may not
    /// survive a fail-over: the client should retry, with a message id that lets it deduplicate);
    /// HA_NOT_AVAILABLE when this broker follows another (send to the leader).
    static func replicationRefusal(_ error: StorageError) -> ProtocolRefusal? {
        switch error.code {
        case .replicationTimeout: ProtocolRefusal(.slavePersistenceTimeout, error.message)
        case .notLeader: ProtocolRefusal(.haNotAvailable, error.message)
        default: nil
        }
    }
}
