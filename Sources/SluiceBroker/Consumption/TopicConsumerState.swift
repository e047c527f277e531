import DequeModule
import HeapModule
import SluiceStorage

/// One message a group has not finished: delivered and not acknowledged, scheduled (DELAY), or
/// waiting behind an earlier message of its FIFO message group.
struct PendingMessage: Sendable {
    /// Deliveries so far (0: not delivered yet).
    var attempt: Int
    var deliveryToken: UInt64
    var invisibleUntilMs: Int64
    /// Not delivered (again) before this time.
    var deliverableAtMs: Int64
    var messageGroup: String?
    var clientId: String
    /// The broker renews the invisibility while `clientId` is alive (push consumers).
    var autoRenew = false
    /// Being copied to the dead-letter queue: neither delivered nor acknowledged meanwhile.
    var deadLettering = false
}

/// A group's state in one queue.
struct QueueProgress: Sendable {
    /// The first queue offset the group has not looked at.
    var nextOffset: UInt64
    var pending: [UInt64: PendingMessage] = [:]
    /// FIFO topics: each message group's unfinished offsets in send order; only the first may be
    /// delivered.
    var lines: [String: Deque<UInt64>] = [:]
    /// PRIORITY topics: messages read into the group's look-ahead window and not delivered yet
    /// (each also pending with attempt 0), by offset. At most `TopicConsumer.priorityWindow`.
    var ready: [UInt64: ReadyMessage] = [:]
}

/// A PRIORITY message in a group's look-ahead window.
struct ReadyMessage: Sendable {
    var priority: Int32
    /// When the log stored it: the send order across queues.
    var storedAtMs: Int64
    /// When it entered the window: past `TopicConsumer.priorityAgingMs` it is served before any
    /// priority. Not persisted: after a restart the window's messages are served in offset order.
    var enteredAtMs: Int64
}

/// A timer entry: the pending message at (queue, offset) becomes due at `atMs`. Stale once the
/// message's token or due time changed (entries are never removed from the middle of a heap).
struct DueEntry: Comparable, Sendable {
    var atMs: Int64
    var queueId: UInt32
    var queueOffset: UInt64
    var token: UInt64

    static func < (left: DueEntry, right: DueEntry) -> Bool {
        (left.atMs, left.queueId, left.queueOffset) < (right.atMs, right.queueId, right.queueOffset)
    }
}

/// How a claim hands messages out.
struct DeliveryTerms: Sendable {
    var invisibleMs: Int64
    var clientId: String
    var autoRenew: Bool
}

/// One message handed to a consumer.
public struct Delivery: Sendable {
    public var record: StoredRecord
    public var queueId: UInt32
    public var attempt: Int
    public var handle: ReceiptHandle
}

/// A message whose deliveries are used up (or that a consumer forwarded), to be copied to the
/// group's dead-letter queue.
struct DeadLetterCandidate: Sendable {
    var queueId: UInt32
    var queueOffset: UInt64
    var attempt: Int
}

/// What a receipt handle turned out to name.
public enum SettleOutcome: Sendable, Equatable {
    /// The delivery it names was current; the change was made.
    case done
    /// The message was finished before (acknowledged or dead-lettered): nothing to do.
    case alreadyFinished
    /// The message was delivered again, or its invisible time changed, since this handle.
    case stale
    /// No delivery of that message to this group exists.
    case unknown
}
