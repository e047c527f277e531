import DequeModule
import HeapModule
import SluiceStorage

/// A consumer group's state in one topic: per queue its cursor and unfinished messages, and the
/// timers (min-heaps) that say when a message is due again. All receive, ack and timer logic of
/// the group–topic pair runs here, one call at a time; the caller persists the returned changes
/// before it answers the client.
actor TopicConsumer {
    let groupName: String
    let topic: String
    private(set) var group: ConsumerGroup
    let queueCount: Int
    /// Whether per-message-group order is kept (FIFO topics).
    let ordered: Bool
    /// Whether higher priorities are served first (PRIORITY topics).
    private let prioritized: Bool
    let log: CommitLog
    /// Where every change is queued, in the order made here, before the actor moves on: a later
    /// claim can never commit while an earlier one is lost in a crash.
    let table: ConsumptionTable
    /// A replicated group's delivery records (a no-op otherwise): see `committed(_:)`.
    let journal: DeliveryJournal
    /// Recalled DELAY messages: skipped by the scan and by the timers.
    let recalls: RecallBook
    var queues: [UInt32: QueueProgress] = [:]
    /// Redeliveries, DELAY messages and FIFO line heads, by due time.
    var due = Heap<DueEntry>()
    /// Last deliveries, by the end of their invisibility: dead-lettered when due unacknowledged.
    var final = Heap<DueEntry>()
    var deliveryTokens = DeliveryTokens()

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
        group: ConsumerGroup, topic: TopicDefinition, log: CommitLog, table: ConsumptionTable, journal: DeliveryJournal,
        recalls: RecallBook, restored: [PendingRow], cursors: [CursorRow]
    ) {
        self.table = table
        self.journal = journal
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
        return (deliveries, deadLetters, committed(changes))
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
            // Not past the replicated group's high-water mark (sync): an unconfirmed record could
            // vanish in a fail-over after delivery.
            let entries = log.consumableEntries(queue, from: progress.nextOffset, maxCount: min(256, Self.scanLimitPerQueue - scanned))
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
                    attempt: 0, deliveryToken: deliveryTokens.next(), invisibleUntilMs: 0, deliverableAtMs: 0,
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
        message.deliveryToken = deliveryTokens.next()
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

    // MARK: helpers

    /// Queues a change of deliveries for the table and, in a replicated group, its record for
    /// the followers — both before the actor moves on, so both keep the actor's order.
    func committed(_ changes: ConsumptionChanges) -> PendingWrite {
        journal.record(group: groupName, topic: topic, changes)
        return table.enqueue(changes)
    }

    func current(_ handle: ReceiptHandle) -> SettleOutcome {
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
    func finish(queueId: UInt32, offset: UInt64, nowMs: Int64, changes: inout ConsumptionChanges) -> Bool {
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

    func schedule(queueId: UInt32, offset: UInt64, _ message: PendingMessage) {
        let entry = DueEntry(atMs: message.deliverableAtMs, queueId: queueId, queueOffset: offset, token: message.deliveryToken)
        if message.attempt >= group.maxDeliveryAttempts { final.insert(entry) } else { due.insert(entry) }
    }

    func readRecord(queueId: UInt32, offset: UInt64) -> StoredRecord? {
        let queue = QueueID(topic: topic, queueId: queueId)
        guard let entry = log.queueEntries(queue, from: offset, maxCount: 1).first, entry.queueOffset == offset,
            !entry.isLost
        else { return nil }
        return try? log.read(entry, of: queue)
    }

    func row(_ queueId: UInt32, _ offset: UInt64, _ message: PendingMessage) -> PendingRow {
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
