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

/// A consumer group's state in one topic: per queue its cursor and unfinished messages, and the
/// timers (min-heaps) that say when a message is due again. All receive, ack and timer logic of
/// the group–topic pair runs here, one call at a time; the caller persists the returned changes
/// before it answers the client.
actor TopicConsumer {
    let groupName: String
    let topic: String
    private(set) var group: ConsumerGroup
    private let queueCount: Int
    /// Whether per-message-group order is kept (FIFO topics).
    private let ordered: Bool
    /// Whether higher priorities are served first (PRIORITY topics).
    private let prioritized: Bool
    private let log: CommitLog
    /// Where every change is queued, in the order made here, before the actor moves on: a later
    /// claim can never commit while an earlier one is lost in a crash.
    private let table: ConsumptionTable
    /// Recalled DELAY messages: skipped by the scan and by the timers.
    private let recalls: RecallBook
    private var queues: [UInt32: QueueProgress] = [:]
    /// Redeliveries, DELAY messages and FIFO line heads, by due time.
    private var due = Heap<DueEntry>()
    /// Last deliveries, by the end of their invisibility: dead-lettered when due unacknowledged.
    private var final = Heap<DueEntry>()
    private var random = SystemRandomNumberGenerator()

    /// The most unfinished messages per queue; past it the cursor stops (a stuck FIFO group or a
    /// pile of far-future DELAY messages must not grow memory without bound).
    static let pendingLimitPerQueue = 100_000
    /// Index entries looked at per queue per receive (filtered-out messages included).
    static let scanLimitPerQueue = 4096
    /// PRIORITY topics: the messages per queue a group looks ahead over to find the highest
    /// priorities.
    static let priorityWindow = 1024
    /// PRIORITY topics: a message that has waited this long in the window is served before any
    /// priority (oldest first), so low priorities are never starved.
    static let priorityAgingMs: Int64 = 30_000

    init(
        group: ConsumerGroup, topic: TopicDefinition, log: CommitLog, table: ConsumptionTable, recalls: RecallBook,
        restored: [PendingRow], cursors: [CursorRow]
    ) {
        self.table = table
        self.recalls = recalls
        self.groupName = group.name
        self.group = group
        self.topic = topic.name
        self.queueCount = topic.queueCount
        self.ordered = topic.messageType == .fifo
        self.prioritized = topic.messageType == .priority
        self.log = log
        for cursor in cursors {
            queues[cursor.queueId] = QueueProgress(nextOffset: cursor.nextOffset)
        }
        for row in restored {
            var progress = queues[row.queueId] ?? QueueProgress(nextOffset: row.queueOffset + 1)
            progress.pending[row.queueOffset] = PendingMessage(
                attempt: row.attempt, deliveryToken: row.deliveryToken, invisibleUntilMs: row.invisibleUntilMs,
                deliverableAtMs: row.deliverableAtMs, messageGroup: row.messageGroup, clientId: row.clientId,
                autoRenew: row.autoRenew)
            if ordered, let line = row.messageGroup {
                progress.lines[line, default: []].append(row.queueOffset)
            }
            queues[row.queueId] = progress
        }
        for (queueId, progress) in queues {
            for (offset, message) in progress.pending {
                if ordered, let line = message.messageGroup, progress.lines[line]?.first != offset { continue }
                let entry = DueEntry(
                    atMs: message.deliverableAtMs, queueId: queueId, queueOffset: offset, token: message.deliveryToken)
                if message.attempt >= group.maxDeliveryAttempts { final.insert(entry) } else { due.insert(entry) }
            }
        }
    }

    func update(group: ConsumerGroup) { self.group = group }

    // MARK: receive

    /// Claims up to `batch` messages for one consumer: due redeliveries first, then new messages
    /// from the queues' cursors (round-robin from `firstQueue`). Claimed messages are invisible
    /// to the group until `nowMs + invisibleMs`.
    func claim(
        batch: Int, invisibleMs: Int64, filter: TagFilter, clientId: String, firstQueue: UInt32, nowMs: Int64,
        autoRenew: Bool = false
    ) -> (deliveries: [Delivery], deadLetters: [DeadLetterCandidate], write: PendingWrite) {
        let delivery = DeliveryTerms(invisibleMs: invisibleMs, clientId: clientId, autoRenew: autoRenew)
        var deliveries: [Delivery] = []
        var deadLetters: [DeadLetterCandidate] = []
        var changes = ConsumptionChanges()
        // 1. Messages due again (retries, DELAY messages whose time came, unblocked FIFO heads).
        while deliveries.count < batch, let top = due.min, top.atMs <= nowMs {
            due.removeMin()
            guard var message = queues[top.queueId]?.pending[top.queueOffset], message.deliveryToken == top.token,
                message.deliverableAtMs == top.atMs, !message.deadLettering
            else { continue }
            if message.attempt >= group.maxDeliveryAttempts {
                queues[top.queueId]?.pending[top.queueOffset]?.deadLettering = true
                deadLetters.append(DeadLetterCandidate(queueId: top.queueId, queueOffset: top.queueOffset, attempt: message.attempt))
                continue
            }
            guard let record = readRecord(queueId: top.queueId, offset: top.queueOffset),
                !recalls.contains(record.physicalOffset)
            else {
                finish(queueId: top.queueId, offset: top.queueOffset, nowMs: nowMs, changes: &changes)
                continue
            }
            deliveries.append(
                deliver(&message, queueId: top.queueId, offset: top.queueOffset, record: record, terms: delivery,
                        nowMs: nowMs, changes: &changes))
            queues[top.queueId]?.pending[top.queueOffset] = message
        }
        // 2. New messages.
        for step in 0..<queueCount where deliveries.count < batch || prioritized {
            let queueId = UInt32((Int(firstQueue) + step) % queueCount)
            scanNew(queueId: queueId, batch: batch, terms: delivery, filter: filter, nowMs: nowMs,
                    deliveries: &deliveries, changes: &changes)
        }
        if prioritized {
            servePrioritized(batch: batch, firstQueue: firstQueue, terms: delivery, nowMs: nowMs,
                             deliveries: &deliveries, changes: &changes)
        }
        return (deliveries, deadLetters, table.enqueue(changes))
    }

    private func scanNew(
        queueId: UInt32, batch: Int, terms: DeliveryTerms, filter: TagFilter, nowMs: Int64,
        deliveries: inout [Delivery], changes: inout ConsumptionChanges
    ) {
        let queue = QueueID(topic: topic, queueId: queueId)
        let bounds = log.queueBounds(queue)
        var progress = queues[queueId] ?? QueueProgress(nextOffset: bounds.min)
        let start = progress.nextOffset
        // Retention removed what the group had not read yet: skip to what exists.
        if progress.nextOffset < bounds.min { progress.nextOffset = bounds.min }
        var scanned = 0
        // A PRIORITY topic fills its window instead of delivering: `servePrioritized` chooses.
        scanning: while prioritized ? progress.ready.count < Self.priorityWindow : deliveries.count < batch,
            progress.nextOffset < bounds.next, scanned < Self.scanLimitPerQueue,
            progress.pending.count < Self.pendingLimitPerQueue
        {
            let entries = log.queueEntries(queue, from: progress.nextOffset, maxCount: min(256, Self.scanLimitPerQueue - scanned))
            if entries.isEmpty { break }
            for entry in entries {
                scanned += 1
                guard !entry.isLost, filter.mayMatch(tagHash: entry.tagHash), !recalls.contains(entry.physicalOffset) else {
                    progress.nextOffset = entry.queueOffset + 1
                    continue
                }
                let record: StoredRecord
                do throws(StorageError) {
                    record = try log.read(entry, of: queue)
                } catch where error.code == .offsetOutOfRange {
                    // Not readable yet (or any more): look again next time rather than skip it.
                    break scanning
                } catch {
                    // Damaged in the log: it cannot be served; the log reported the range.
                    progress.nextOffset = entry.queueOffset + 1
                    continue
                }
                progress.nextOffset = entry.queueOffset + 1
                // Still unfinished from before an operator moved the cursor back: that delivery
                // stays as it is (ackable, retried when its invisibility ends), not a second one.
                if progress.pending[entry.queueOffset] != nil { continue }
                guard filter.matches(record.message) else { continue }
                let line = ordered ? record.property(MessageProperty.messageGroup) : nil
                var message = PendingMessage(
                    attempt: 0, deliveryToken: random.next(), invisibleUntilMs: 0, deliverableAtMs: 0,
                    messageGroup: line, clientId: "")
                if RecordKind(rawValue: record.message.messageType) == .delay,
                    let deliveryMs = record.property(MessageProperty.deliveryTimestampMs).flatMap(Int64.init),
                    deliveryMs > nowMs
                {
                    message.deliverableAtMs = deliveryMs
                    progress.pending[entry.queueOffset] = message
                    changes.pending.append(row(queueId, entry.queueOffset, message))
                    schedule(queueId: queueId, offset: entry.queueOffset, message)
                    continue
                }
                if let line, let waiting = progress.lines[line], !waiting.isEmpty {
                    progress.lines[line]?.append(entry.queueOffset)
                    progress.pending[entry.queueOffset] = message
                    changes.pending.append(row(queueId, entry.queueOffset, message))
                    continue
                }
                if prioritized {
                    let priority = record.property(MessageProperty.priority).flatMap(Int32.init) ?? 0
                    progress.ready[entry.queueOffset] = ReadyMessage(priority: priority, storedAtMs: record.storeTimestampMs, enteredAtMs: nowMs)
                    progress.pending[entry.queueOffset] = message
                    changes.pending.append(row(queueId, entry.queueOffset, message))
                    continue
                }
                if let line { progress.lines[line] = [entry.queueOffset] }
                deliveries.append(
                    deliver(&message, queueId: queueId, offset: entry.queueOffset, record: record, terms: terms,
                            nowMs: nowMs, changes: &changes))
                progress.pending[entry.queueOffset] = message
                if deliveries.count >= batch { break scanning }
            }
        }
        queues[queueId] = progress
        if progress.nextOffset != start {
            changes.cursors.append(CursorRow(group: groupName, topic: topic, queueId: queueId, nextOffset: progress.nextOffset))
        }
    }

    /// PRIORITY topics: delivers up to `batch` messages from the queues' windows. Messages that
    /// waited `priorityAgingMs` or longer in a window come first, oldest first; then the highest
    /// priority. "Oldest" and ties: store time, then queue (from `firstQueue`), then offset.
    private func servePrioritized(
        batch: Int, firstQueue: UInt32, terms: DeliveryTerms, nowMs: Int64, deliveries: inout [Delivery],
        changes: inout ConsumptionChanges
    ) {
        guard deliveries.count < batch else { return }
        struct Candidate {
            var aged: Bool
            var priority: Int32
            var storedAtMs: Int64
            var offset: UInt64
            var queueRank: Int
            var queueId: UInt32
        }
        var candidates: [Candidate] = []
        let count = max(1, queueCount)
        let first = Int(firstQueue) % count
        for (queueId, progress) in queues where !progress.ready.isEmpty {
            let queueRank = (Int(queueId) % count - first + count) % count
            for (offset, ready) in progress.ready {
                let aged = nowMs - ready.enteredAtMs >= Self.priorityAgingMs
                candidates.append(
                    Candidate(
                        aged: aged, priority: ready.priority, storedAtMs: ready.storedAtMs, offset: offset,
                        queueRank: queueRank, queueId: queueId))
            }
        }
        candidates.sort { left, right in
            if left.aged != right.aged { return left.aged }
            if !left.aged, left.priority != right.priority { return left.priority > right.priority }
            return (left.storedAtMs, left.queueRank, left.offset) < (right.storedAtMs, right.queueRank, right.offset)
        }
        for candidate in candidates {
            if deliveries.count >= batch { break }
            let queueId = candidate.queueId, offset = candidate.offset
            queues[queueId]?.ready[offset] = nil
            guard var message = queues[queueId]?.pending[offset], message.attempt == 0 else { continue }
            guard let record = readRecord(queueId: queueId, offset: offset) else {
                finish(queueId: queueId, offset: offset, nowMs: nowMs, changes: &changes)
                continue
            }
            deliveries.append(
                deliver(&message, queueId: queueId, offset: offset, record: record, terms: terms, nowMs: nowMs,
                        changes: &changes))
            queues[queueId]?.pending[offset] = message
        }
    }

    /// Marks `message` (at queue, offset) delivered once more, records the change and schedules
    /// its retry; the caller keeps the updated message.
    private func deliver(
        _ message: inout PendingMessage, queueId: UInt32, offset: UInt64, record: StoredRecord, terms: DeliveryTerms,
        nowMs: Int64, changes: inout ConsumptionChanges
    ) -> Delivery {
        message.attempt += 1
        message.deliveryToken = random.next()
        message.invisibleUntilMs = nowMs + terms.invisibleMs
        message.deliverableAtMs = max(message.invisibleUntilMs, nowMs + group.retryDelayMs(afterAttempt: message.attempt))
        message.clientId = terms.clientId
        message.autoRenew = terms.autoRenew
        changes.pending.append(row(queueId, offset, message))
        schedule(queueId: queueId, offset: offset, message)
        let handle = ReceiptHandle(
            queueId: queueId, queueOffset: offset, deliveryToken: message.deliveryToken,
            invisibleUntilMs: message.invisibleUntilMs)
        return Delivery(record: record, queueId: queueId, attempt: message.attempt, handle: handle)
    }

    // MARK: settling

    /// Acknowledges the delivery `handle` names.
    func ack(_ handle: ReceiptHandle, nowMs: Int64) -> (SettleOutcome, PendingWrite, unblocked: Bool, attempt: Int) {
        var changes = ConsumptionChanges()
        switch current(handle) {
        case .done:
            let attempt = queues[handle.queueId]?.pending[handle.queueOffset]?.attempt ?? 0
            let unblocked = finish(queueId: handle.queueId, offset: handle.queueOffset, nowMs: nowMs, changes: &changes)
            return (.done, table.enqueue(changes), unblocked, attempt)
        case let other:
            return (other, table.enqueue(changes), false, 0)
        }
    }

    /// Acknowledges several deliveries at once (one AckMessage request): one queued write for
    /// all of them, so they commit in one SQLite transaction instead of one after the other.
    func ack(_ handles: [ReceiptHandle], nowMs: Int64)
        -> (outcomes: [(SettleOutcome, attempt: Int)], write: PendingWrite, unblocked: Bool)
    {
        var changes = ConsumptionChanges()
        var outcomes: [(SettleOutcome, attempt: Int)] = []
        outcomes.reserveCapacity(handles.count)
        var unblocked = false
        for handle in handles {
            let outcome = current(handle)
            guard outcome == .done else {
                outcomes.append((outcome, 0))
                continue
            }
            let attempt = queues[handle.queueId]?.pending[handle.queueOffset]?.attempt ?? 0
            if finish(queueId: handle.queueId, offset: handle.queueOffset, nowMs: nowMs, changes: &changes) {
                unblocked = true
            }
            outcomes.append((.done, attempt))
        }
        return (outcomes, table.enqueue(changes), unblocked)
    }

    /// Makes the delivery `handle` names invisible until `nowMs + invisibleMs` (a consumer's
    /// extension or, with a short time, its negative acknowledgement) and returns the new handle.
    func changeInvisibleDuration(_ handle: ReceiptHandle, invisibleMs: Int64, nowMs: Int64)
        -> (SettleOutcome, ReceiptHandle?, PendingWrite)
    {
        var changes = ConsumptionChanges()
        let outcome = current(handle)
        guard outcome == .done, var message = queues[handle.queueId]?.pending[handle.queueOffset] else {
            return (outcome, nil, table.enqueue(changes))
        }
        message.deliveryToken = random.next()
        message.invisibleUntilMs = nowMs + invisibleMs
        message.deliverableAtMs = message.invisibleUntilMs
        queues[handle.queueId]?.pending[handle.queueOffset] = message
        changes.pending.append(row(handle.queueId, handle.queueOffset, message))
        schedule(queueId: handle.queueId, offset: handle.queueOffset, message)
        let renewed = ReceiptHandle(
            queueId: handle.queueId, queueOffset: handle.queueOffset, deliveryToken: message.deliveryToken,
            invisibleUntilMs: message.invisibleUntilMs)
        return (.done, renewed, table.enqueue(changes))
    }

    /// Hands back deliveries that never reached their consumer (the receive was cancelled or its
    /// response could not be written): each is due again now, and the delivery attempt it used is
    /// returned, as RocketMQ's proxy does. Handles that are no longer current are left alone.
    func release(_ handles: [ReceiptHandle], nowMs: Int64) -> (released: Int, write: PendingWrite) {
        var changes = ConsumptionChanges()
        var released = 0
        for handle in handles {
            guard current(handle) == .done, var message = queues[handle.queueId]?.pending[handle.queueOffset] else {
                continue
            }
            message.attempt = max(0, message.attempt - 1)
            message.deliveryToken = random.next()
            message.invisibleUntilMs = 0
            message.deliverableAtMs = nowMs
            message.clientId = ""
            message.autoRenew = false
            queues[handle.queueId]?.pending[handle.queueOffset] = message
            changes.pending.append(row(handle.queueId, handle.queueOffset, message))
            schedule(queueId: handle.queueId, offset: handle.queueOffset, message)
            released += 1
        }
        return (released, table.enqueue(changes))
    }

    /// Takes the delivery `handle` names out of circulation for the dead-letter queue (a consumer
    /// gave up on it).
    func beginDeadLetter(_ handle: ReceiptHandle) -> (SettleOutcome, DeadLetterCandidate?) {
        let outcome = current(handle)
        guard outcome == .done, var message = queues[handle.queueId]?.pending[handle.queueOffset] else {
            return (outcome, nil)
        }
        message.deadLettering = true
        queues[handle.queueId]?.pending[handle.queueOffset] = message
        return (.done, DeadLetterCandidate(queueId: handle.queueId, queueOffset: handle.queueOffset, attempt: message.attempt))
    }

    /// The dead-letter copy is stored: the message is finished for the group.
    func finishDeadLetter(_ candidate: DeadLetterCandidate, nowMs: Int64) -> (PendingWrite, unblocked: Bool) {
        var changes = ConsumptionChanges()
        let unblocked = finish(queueId: candidate.queueId, offset: candidate.queueOffset, nowMs: nowMs, changes: &changes)
        return (table.enqueue(changes), unblocked)
    }

    /// Storing the dead-letter copy failed: try again later.
    func abortDeadLetter(_ candidate: DeadLetterCandidate, retryAtMs: Int64) {
        guard var message = queues[candidate.queueId]?.pending[candidate.queueOffset] else { return }
        message.deadLettering = false
        message.deliverableAtMs = retryAtMs
        queues[candidate.queueId]?.pending[candidate.queueOffset] = message
        schedule(queueId: candidate.queueId, offset: candidate.queueOffset, message)
    }

    /// Last deliveries whose invisibility ran out unacknowledged: they go to the dead-letter queue.
    func expiredFinalDeliveries(nowMs: Int64, limit: Int) -> [DeadLetterCandidate] {
        var candidates: [DeadLetterCandidate] = []
        while candidates.count < limit, let top = final.min, top.atMs <= nowMs {
            final.removeMin()
            guard var message = queues[top.queueId]?.pending[top.queueOffset], message.deliveryToken == top.token,
                message.deliverableAtMs == top.atMs, !message.deadLettering
            else { continue }
            if message.attempt < group.maxDeliveryAttempts {
                // The group's limit was raised since: an ordinary retry now.
                due.insert(top)
                continue
            }
            message.deadLettering = true
            queues[top.queueId]?.pending[top.queueOffset] = message
            candidates.append(DeadLetterCandidate(queueId: top.queueId, queueOffset: top.queueOffset, attempt: message.attempt))
        }
        return candidates
    }

    /// A DELAY message scheduled for the group was recalled: it is finished without delivery.
    func dropRecalled(queueId: UInt32, offset: UInt64, nowMs: Int64) -> PendingWrite? {
        guard let message = queues[queueId]?.pending[offset], message.attempt == 0 else { return nil }
        var changes = ConsumptionChanges()
        finish(queueId: queueId, offset: offset, nowMs: nowMs, changes: &changes)
        return table.enqueue(changes)
    }

    /// The record of a pending message, for its dead-letter copy.
    func record(of candidate: DeadLetterCandidate) -> StoredRecord? {
        readRecord(queueId: candidate.queueId, offset: candidate.queueOffset)
    }

    /// When the next pending message becomes due (a long poll waits at most until then).
    var nextDueMs: Int64? { due.min?.atMs }

    /// Makes a finished message unfinished again for the group, deliverable now with its attempts
    /// counted afresh: an operator re-driving it from the dead-letter queue. On a FIFO topic it
    /// joins the end of its message group's line. False when it is not finished (still pending,
    /// or not yet reached by the cursor).
    func reopen(queueId: UInt32, offset: UInt64, messageGroup: String?, nowMs: Int64) -> (Bool, PendingWrite) {
        var changes = ConsumptionChanges()
        guard var progress = queues[queueId], offset < progress.nextOffset, progress.pending[offset] == nil else {
            return (false, table.enqueue(changes))
        }
        let line = ordered ? messageGroup : nil
        let message = PendingMessage(
            attempt: 0, deliveryToken: random.next(), invisibleUntilMs: 0, deliverableAtMs: nowMs, messageGroup: line,
            clientId: "")
        progress.pending[offset] = message
        var isHead = true
        if let line {
            progress.lines[line, default: []].append(offset)
            isHead = progress.lines[line]?.count == 1
        }
        queues[queueId] = progress
        if isHead { schedule(queueId: queueId, offset: offset, message) }
        changes.pending.append(row(queueId, offset, message))
        return (true, table.enqueue(changes))
    }

    /// Extends the invisibility of auto-renewed deliveries that end within `withinMs` while their
    /// client is alive (a push consumer still working on them): by `extendMs`, same handle. A
    /// client that went away stops being renewed, and its messages come back when the last
    /// renewal runs out.
    func renewAutoRenewed(isAlive: (String) -> Bool, nowMs: Int64, withinMs: Int64, extendMs: Int64) -> PendingWrite {
        var changes = ConsumptionChanges()
        for (queueId, progress) in queues {
            for (offset, var message) in progress.pending
            where message.autoRenew && message.attempt > 0 && !message.deadLettering
                && message.invisibleUntilMs > nowMs && message.invisibleUntilMs - nowMs <= withinMs
                && isAlive(message.clientId)
            {
                message.invisibleUntilMs = nowMs + extendMs
                message.deliverableAtMs = max(message.deliverableAtMs, message.invisibleUntilMs)
                queues[queueId]?.pending[offset] = message
                changes.pending.append(row(queueId, offset, message))
                schedule(queueId: queueId, offset: offset, message)
            }
        }
        return table.enqueue(changes)
    }

    // MARK: offsets

    /// The group's committed offset in a queue: every message below it is finished.
    func committedOffset(queueId: UInt32) -> UInt64 {
        let bounds = log.queueBounds(QueueID(topic: topic, queueId: queueId))
        guard let progress = queues[queueId] else { return bounds.min }
        return progress.pending.keys.min() ?? max(progress.nextOffset, bounds.min)
    }

    /// Moves the group's position in a queue to `offset` (forward skips, backward replays): an
    /// operator's or a pull consumer's reset. See `reset(to:nowMs:)` for what happens to the
    /// unfinished messages.
    func reset(queueId: UInt32, to offset: UInt64, nowMs: Int64) -> PendingWrite {
        reset(to: [queueId: offset], nowMs: nowMs).write
    }

    /// Moves the group's position in each queue given and returns the positions before and after.
    ///
    /// Messages in flight there (delivered, invisible, not acknowledged) stay as they are, as in
    /// RocketMQ: their consumers may still acknowledge them, and one not acknowledged is delivered
    /// again when its invisibility ends; a backward reset that reaches one does not deliver it a
    /// second time meanwhile. Everything else the group held there (retries, DELAY messages not
    /// due, FIFO messages waiting behind their message group) is forgotten: the new position alone
    /// decides what comes next.
    func reset(to offsets: [UInt32: UInt64], nowMs: Int64) -> (changes: [QueueOffsetChange], write: PendingWrite) {
        var changes = ConsumptionChanges()
        var moved: [QueueOffsetChange] = []
        for (queueId, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            let bounds = log.queueBounds(QueueID(topic: topic, queueId: queueId))
            let previous = queues[queueId] ?? QueueProgress(nextOffset: bounds.min)
            var progress = QueueProgress(nextOffset: offset)
            for (pendingOffset, message) in previous.pending {
                let inFlight = message.attempt > 0 && message.invisibleUntilMs > nowMs && !message.deadLettering
                if inFlight {
                    progress.pending[pendingOffset] = message
                } else {
                    changes.finished.append((groupName, topic, queueId, pendingOffset))
                }
            }
            if ordered {
                for pendingOffset in progress.pending.keys.sorted() {
                    if let line = progress.pending[pendingOffset]?.messageGroup {
                        progress.lines[line, default: []].append(pendingOffset)
                    }
                }
            }
            queues[queueId] = progress
            changes.resetCursors.append(CursorRow(group: groupName, topic: topic, queueId: queueId, nextOffset: offset))
            moved.append(QueueOffsetChange(queueId: queueId, from: previous.nextOffset, to: offset))
        }
        return (moved, table.enqueue(changes))
    }

    // MARK: backlog

    func backlog(nowMs: Int64) -> [QueueBacklog] {
        (0..<UInt32(queueCount)).map { queueId in
            let queue = QueueID(topic: topic, queueId: queueId)
            let bounds = log.queueBounds(queue)
            let progress = queues[queueId] ?? QueueProgress(nextOffset: bounds.min)
            var inFlight = 0, retrying = 0, scheduled = 0, waiting = 0
            for message in progress.pending.values {
                if message.attempt == 0 {
                    if message.deliverableAtMs > nowMs { scheduled += 1 } else { waiting += 1 }
                } else if message.invisibleUntilMs > nowMs {
                    inFlight += 1
                } else {
                    retrying += 1
                }
            }
            let unread = bounds.next > max(progress.nextOffset, bounds.min) ? bounds.next - max(progress.nextOffset, bounds.min) : 0
            return QueueBacklog(
                topic: topic, queueId: queueId, nextOffset: progress.nextOffset, endOffset: bounds.next,
                waiting: Int(unread) + waiting, inFlight: inFlight, retrying: retrying, scheduled: scheduled)
        }
    }

    // MARK: helpers

    private func current(_ handle: ReceiptHandle) -> SettleOutcome {
        guard let progress = queues[handle.queueId] else { return .unknown }
        guard let message = progress.pending[handle.queueOffset] else {
            return handle.queueOffset < progress.nextOffset ? .alreadyFinished : .unknown
        }
        guard message.attempt > 0, message.deliveryToken == handle.deliveryToken, !message.deadLettering else {
            return .stale
        }
        return .done
    }

    /// Removes a finished message; returns whether a FIFO message group's next message became due.
    @discardableResult
    private func finish(queueId: UInt32, offset: UInt64, nowMs: Int64, changes: inout ConsumptionChanges) -> Bool {
        guard var progress = queues[queueId], let message = progress.pending.removeValue(forKey: offset) else {
            return false
        }
        progress.ready[offset] = nil
        changes.finished.append((groupName, topic, queueId, offset))
        var unblocked = false
        if let line = message.messageGroup, var waiting = progress.lines[line] {
            waiting.removeAll { $0 == offset }
            if let head = waiting.first, var next = progress.pending[head] {
                next.deliverableAtMs = max(next.deliverableAtMs, nowMs)
                progress.pending[head] = next
                queues[queueId] = progress
                schedule(queueId: queueId, offset: head, next)
                unblocked = true
            }
            progress.lines[line] = waiting.isEmpty ? nil : waiting
        }
        queues[queueId] = progress
        return unblocked
    }

    private func schedule(queueId: UInt32, offset: UInt64, _ message: PendingMessage) {
        let entry = DueEntry(atMs: message.deliverableAtMs, queueId: queueId, queueOffset: offset, token: message.deliveryToken)
        if message.attempt >= group.maxDeliveryAttempts { final.insert(entry) } else { due.insert(entry) }
    }

    private func readRecord(queueId: UInt32, offset: UInt64) -> StoredRecord? {
        let queue = QueueID(topic: topic, queueId: queueId)
        guard let entry = log.queueEntries(queue, from: offset, maxCount: 1).first, entry.queueOffset == offset,
            !entry.isLost
        else { return nil }
        return try? log.read(entry, of: queue)
    }

    private func row(_ queueId: UInt32, _ offset: UInt64, _ message: PendingMessage) -> PendingRow {
        PendingRow(
            group: groupName, topic: topic, queueId: queueId, queueOffset: offset, attempt: message.attempt,
            deliveryToken: message.deliveryToken, invisibleUntilMs: message.invisibleUntilMs,
            deliverableAtMs: message.deliverableAtMs, messageGroup: message.messageGroup, clientId: message.clientId,
            autoRenew: message.autoRenew)
    }
}

/// A group's standing in one queue, for metrics and the operations API.
public struct QueueBacklog: Sendable, Codable, Hashable {
    public var topic: String
    public var queueId: UInt32
    /// The group's cursor and the queue's end.
    public var nextOffset: UInt64
    public var endOffset: UInt64
    /// Messages the group has not received yet (unread, or ready and not yet taken).
    public var waiting: Int
    /// Delivered and invisible, not acknowledged yet.
    public var inFlight: Int
    /// Delivered, invisibility over, waiting for their next delivery.
    public var retrying: Int
    /// DELAY messages before their delivery time.
    public var scheduled: Int
}
