import SluiceStorage

/// How transaction events are spelled in the commit log.
///
/// Every half message, commit and rollback is a record indexed in the transaction event queue
/// (`RMQ_SYS_TRANS_HALF_TOPIC#0`), so the event queue read from any offset replays what happened:
/// - half: the producer's whole message, primary in the event queue, with its target topic and
///   queue in properties;
/// - commit: a copy of the message, primary in its target queue (where consumers read it) and
///   secondary in the event queue;
/// - rollback: a small record, primary in the event queue.
public enum TransactionEvent {
    public static let queue = QueueID(topic: "RMQ_SYS_TRANS_HALF_TOPIC", queueId: 0)

    public enum Kind: String, Sendable {
        case half, commit, rollback
    }

    /// Property names the broker owns; clients never see them.
    public enum Property {
        public static let prefix = "SLUICE_"
        public static let event = "SLUICE_TXN_EVENT"
        public static let transactionId = "SLUICE_TXN_ID"
        public static let realTopic = "SLUICE_REAL_TOPIC"
        public static let realQueueId = "SLUICE_REAL_QID"
        public static let producerGroup = "SLUICE_PRODUCER_GROUP"
        public static let clientId = "SLUICE_CLIENT_ID"
        public static let firstCheckDelayMs = "SLUICE_CHECK_DELAY_MS"
        public static let halfOffset = "SLUICE_HALF_OFFSET"
        public static let source = "SLUICE_TXN_SOURCE"
        public static let actor = "SLUICE_TXN_ACTOR"
        public static let reason = "SLUICE_TXN_REASON"
    }
}

/// The RocketMQ message types and the broker's own record kinds, as kept in a record's type byte.
public enum RecordKind: UInt8, Sendable {
    case normal = 1
    case fifo = 2
    case delay = 3
    case transaction = 4
    /// A message with a priority (a PRIORITY topic's message).
    case priority = 6
    /// A message of a lite topic (a LITE parent topic's message; RocketMQ's MessageType LITE).
    case lite = 5
    /// A transaction rollback event (no message for consumers).
    case transactionRollback = 32
}

/// Bits of a record's flags the broker uses.
public enum RecordFlag {
    /// A half message: stored, invisible to consumers until committed.
    public static let half: UInt16 = 0x0001
    /// The visible copy of a committed transactional message.
    public static let committed: UInt16 = 0x0002
}

extension StoredRecord {
    /// The value of a property, or nil.
    public func property(_ name: String) -> String? {
        message.properties.first { $0.0 == name }?.1
    }

    /// The properties a client sent, without the broker's own.
    public var userProperties: [(String, String)] {
        message.properties.filter { !$0.0.hasPrefix(TransactionEvent.Property.prefix) }
    }
}
