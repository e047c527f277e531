import DequeModule
import HeapModule
import SluiceStorage

/// Where the group stands in each queue (committed offsets, resets) and what it has left (backlog).
extension TopicConsumer {
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

    /// The log was cut (a replica dropped a divergent tail, docs/architecture.md §15): forgets
    /// what the group held at or past each queue's new end, delivered or not, and moves its
    /// position back there, so the records later copied at those offsets are read as new.
    /// Receipt handles of forgotten deliveries stop working; timers that name them are skipped.
    /// nil when nothing of this group was past the cut.
    func forgetCut() -> PendingWrite? {
        var changes = ConsumptionChanges()
        for (queueId, previous) in queues.sorted(by: { $0.key < $1.key }) {
            let next = log.queueBounds(QueueID(topic: topic, queueId: queueId)).next
            let gone = previous.pending.keys.filter { $0 >= next }
            guard previous.nextOffset > next || !gone.isEmpty else { continue }
            var progress = previous
            for offset in gone.sorted() {
                progress.pending.removeValue(forKey: offset)
                progress.ready.removeValue(forKey: offset)
                changes.finished.append((groupName, topic, queueId, offset))
            }
            for (line, offsets) in progress.lines {
                let kept = offsets.filter { $0 < next }
                progress.lines[line] = kept.isEmpty ? nil : Deque(kept)
            }
            progress.nextOffset = min(progress.nextOffset, next)
            queues[queueId] = progress
            changes.resetCursors.append(
                CursorRow(group: groupName, topic: topic, queueId: queueId, nextOffset: progress.nextOffset))
        }
        return changes.isEmpty ? nil : table.enqueue(changes)
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
}
