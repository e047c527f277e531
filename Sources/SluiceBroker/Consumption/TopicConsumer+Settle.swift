import DequeModule
import HeapModule
import SluiceStorage

/// Settling deliveries of one group–topic pair: acks, invisible-time changes, releases, dead
/// letters, recalls, re-driven messages and auto-renewal. Each returns the change to persist.
extension TopicConsumer {
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
        message.deliveryToken = deliveryTokens.next()
        message.invisibleUntilMs = nowMs + invisibleMs
        message.deliverableAtMs = message.invisibleUntilMs
        queues[handle.queueId]?.pending[handle.queueOffset] = message
        changes.pending.append(row(handle.queueId, handle.queueOffset, message))
        schedule(queueId: handle.queueId, offset: handle.queueOffset, message)
        let renewed = ReceiptHandle(
            queueId: handle.queueId, queueOffset: handle.queueOffset, deliveryToken: message.deliveryToken,
            invisibleUntilMs: message.invisibleUntilMs)
        return (.done, renewed, committed(changes))
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
            makeDueNow(queueId: handle.queueId, offset: handle.queueOffset, &message, nowMs: nowMs, changes: &changes)
            released += 1
        }
        return (released, committed(changes))
    }

    /// Makes a delivered message due again now, for no client, under a new delivery token (the
    /// handle it was delivered with goes stale); the caller sets its attempt count. A delivered
    /// message is its FIFO line's head, so it is scheduled as it is.
    func makeDueNow(
        queueId: UInt32, offset: UInt64, _ message: inout PendingMessage, nowMs: Int64, changes: inout ConsumptionChanges
    ) {
        message.deliveryToken = deliveryTokens.next()
        message.invisibleUntilMs = 0
        message.deliverableAtMs = nowMs
        message.clientId = ""
        message.autoRenew = false
        queues[queueId]?.pending[offset] = message
        changes.pending.append(row(queueId, offset, message))
        schedule(queueId: queueId, offset: offset, message)
    }

    /// Makes every delivered, unacknowledged message due again now, with its attempt count kept
    /// (so the next delivery counts as a redelivery): a returning MQTT session's deliveries that
    /// were in flight when its connection (or the broker) went away, re-sent at once rather than
    /// after their invisible time (MQTT 3.1.1 §4.4). Dead-lettering messages are left alone.
    func redeliverInFlight(nowMs: Int64) -> (count: Int, write: PendingWrite) {
        var changes = ConsumptionChanges()
        var count = 0
        for (queueId, progress) in queues {
            for (offset, pending) in progress.pending
            where pending.attempt > 0 && pending.invisibleUntilMs > nowMs && !pending.deadLettering {
                var message = pending
                makeDueNow(queueId: queueId, offset: offset, &message, nowMs: nowMs, changes: &changes)
                count += 1
            }
        }
        return (count, committed(changes))
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
    /// When the next message is due; stale timer entries at the top (finished, delivered again
    /// or rescheduled since) are dropped first, so a long poll is not woken for nothing.
    var nextDueMs: Int64? {
        while let top = due.min {
            if let message = queues[top.queueId]?.pending[top.queueOffset], message.deliveryToken == top.token,
                message.deliverableAtMs == top.atMs
            {
                return top.atMs
            }
            due.removeMin()
        }
        return nil
    }

    /// Makes a finished message unfinished again for the group, deliverable now with its attempts
    /// counted afresh: an operator re-driving it from the dead-letter queue. On a FIFO topic it
    /// joins the end of its message group's line. False when it is not finished (still pending,
    /// or not yet reached by the cursor). `deliverableAtMs`: not before then (a DELAY message's
    /// time, when a cut tail's recall of it is undone).
    func reopen(queueId: UInt32, offset: UInt64, messageGroup: String?, nowMs: Int64, deliverableAtMs: Int64? = nil)
        -> (Bool, PendingWrite)
    {
        var changes = ConsumptionChanges()
        guard var progress = queues[queueId], offset < progress.nextOffset, progress.pending[offset] == nil else {
            return (false, table.enqueue(changes))
        }
        let line = ordered ? messageGroup : nil
        let message = PendingMessage(
            attempt: 0, deliveryToken: deliveryTokens.next(), invisibleUntilMs: 0,
            deliverableAtMs: max(nowMs, deliverableAtMs ?? nowMs), messageGroup: line, clientId: "")
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
        return committed(changes)
    }
}
