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
}
