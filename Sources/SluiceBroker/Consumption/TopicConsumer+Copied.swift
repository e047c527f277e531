import DequeModule
import SluiceStorage

/// Acknowledgements copied from the group's leader (docs/architecture.md §15): a follower applies
/// them to its own state of the group–topic pair, so that after a promotion it does not deliver
/// again what the old leader's consumers acknowledged.
extension TopicConsumer {
    /// Finishes `acked` (queue offsets by queue id) for the group. Offsets past the cursor move it
    /// past them; the offsets skipped that way and not acknowledged become unfinished messages
    /// due at once (the leader delivered them, or skipped them, and no ack for them was copied:
    /// delivered again after a promotion). Applying the same acks twice changes nothing.
    /// nil when nothing changed.
    func applyCopiedAcks(_ acked: [UInt32: [UInt64]], nowMs: Int64) -> PendingWrite? {
        var changes = ConsumptionChanges()
        for (queueId, offsets) in acked.sorted(by: { $0.key < $1.key }) {
            guard let top = offsets.max() else { continue }
            let queue = QueueID(topic: topic, queueId: queueId)
            let bounds = log.queueBounds(queue)
            if queues[queueId] == nil { queues[queueId] = QueueProgress(nextOffset: bounds.min) }
            let finishedHere = Set(offsets)
            if var progress = queues[queueId], top >= progress.nextOffset {
                var offset = max(progress.nextOffset, bounds.min)
                while offset <= top, offset < bounds.next {
                    let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(256, top + 1 - offset)))
                    if entries.isEmpty { break }
                    for entry in entries where entry.queueOffset <= top {
                        offset = entry.queueOffset + 1
                        guard !finishedHere.contains(entry.queueOffset), !entry.isLost,
                            !recalls.contains(entry.physicalOffset), progress.pending[entry.queueOffset] == nil,
                            let record = try? log.read(entry, of: queue)
                        else { continue }
                        let line = ordered ? record.property(MessageProperty.messageGroup) : nil
                        var message = PendingMessage(
                            attempt: 0, deliveryToken: deliveryTokens.next(), invisibleUntilMs: 0, deliverableAtMs: nowMs,
                            messageGroup: line, clientId: "")
                        if RecordKind(rawValue: record.message.messageType) == .delay,
                            let deliveryMs = record.property(MessageProperty.deliveryTimestampMs).flatMap(Int64.init)
                        {
                            message.deliverableAtMs = max(nowMs, deliveryMs)
                        }
                        progress.pending[entry.queueOffset] = message
                        var isHead = true
                        if let line {
                            progress.lines[line, default: []].append(entry.queueOffset)
                            isHead = progress.lines[line]?.count == 1
                        }
                        changes.pending.append(row(queueId, entry.queueOffset, message))
                        if isHead { schedule(queueId: queueId, offset: entry.queueOffset, message) }
                    }
                }
                progress.nextOffset = max(progress.nextOffset, top + 1)
                queues[queueId] = progress
                changes.cursors.append(
                    CursorRow(group: groupName, topic: topic, queueId: queueId, nextOffset: progress.nextOffset))
            }
            for offset in offsets.sorted() where queues[queueId]?.pending[offset] != nil {
                finish(queueId: queueId, offset: offset, nowMs: nowMs, changes: &changes)
            }
        }
        return changes.isEmpty ? nil : table.enqueue(changes)
    }

    /// Applies a `deliver` record of the leader (DeliveryJournal.swift): each row's message is
    /// unfinished here as the leader left it (attempt, delivery token, invisible and due times,
    /// client), the cursors move forward to the leader's, and the messages it finished are
    /// finished. A row for a message this broker already knows finished (below its cursor, not
    /// unfinished) is left alone: its delivery record and its ack were both copied. Applying the
    /// same record twice changes nothing more. nil when nothing changed.
    func applyCopiedDeliveries(_ copied: CopiedDeliveries, nowMs: Int64) -> PendingWrite? {
        var changes = ConsumptionChanges()
        let known = queues.mapValues(\.nextOffset)
        for copiedRow in copied.rows {
            let queueId = copiedRow.queueId, offset = copiedRow.queueOffset
            var progress = queues[queueId] ?? QueueProgress(nextOffset: offset)
            if let cursor = known[queueId], offset < cursor, progress.pending[offset] == nil { continue }
            let line = ordered ? copiedRow.messageGroup : nil
            let message = PendingMessage(
                attempt: copiedRow.attempt, deliveryToken: copiedRow.deliveryToken, invisibleUntilMs: copiedRow.invisibleUntilMs,
                deliverableAtMs: copiedRow.deliverableAtMs, messageGroup: line, clientId: copiedRow.clientId,
                autoRenew: copiedRow.autoRenew)
            progress.pending[offset] = message
            if let line, progress.lines[line]?.contains(offset) != true {
                var waiting = progress.lines[line] ?? []
                waiting.insert(offset, at: waiting.firstIndex { $0 > offset } ?? waiting.endIndex)
                progress.lines[line] = waiting
            }
            progress.nextOffset = max(progress.nextOffset, offset &+ 1)
            let isHead = line.map { progress.lines[$0]?.first == offset } ?? true
            queues[queueId] = progress
            if isHead { schedule(queueId: queueId, offset: offset, message) }
            changes.pending.append(row(queueId, offset, message))
        }
        var moved: Set<UInt32> = Set(copied.rows.map(\.queueId))
        for cursor in copied.cursors {
            var progress = queues[cursor.queueId] ?? QueueProgress(nextOffset: cursor.offset)
            progress.nextOffset = max(progress.nextOffset, cursor.offset)
            queues[cursor.queueId] = progress
            moved.insert(cursor.queueId)
        }
        for queueId in moved.sorted() where queues[queueId]?.nextOffset != known[queueId] {
            if let next = queues[queueId]?.nextOffset {
                changes.cursors.append(CursorRow(group: groupName, topic: topic, queueId: queueId, nextOffset: next))
            }
        }
        for position in copied.finished where queues[position.queueId]?.pending[position.offset] != nil {
            finish(queueId: position.queueId, offset: position.offset, nowMs: nowMs, changes: &changes)
        }
        return changes.isEmpty ? nil : table.enqueue(changes)
    }

    /// Makes the delivery a cut log tail recorded due at once, when it is still the current one
    /// of its message (the next leader never saw it: its message is delivered anew). nil when
    /// nothing changed.
    func undoCopiedDelivery(queueId: UInt32, offset: UInt64, deliveryToken: UInt64, nowMs: Int64) -> PendingWrite? {
        guard var message = queues[queueId]?.pending[offset], message.deliveryToken == deliveryToken,
            message.attempt > 0, !message.deadLettering
        else { return nil }
        var changes = ConsumptionChanges()
        makeDueNow(queueId: queueId, offset: offset, &message, nowMs: nowMs, changes: &changes)
        return table.enqueue(changes)
    }
}
