import Logging
import Metrics
import NIOCore
import SluiceStorage
import Synchronization

/// Settling deliveries: acks (one or many, one SQLite write per request), invisible-time changes,
/// releases of unwritten receives, and dead letters (forwarded by a client, re-driven by an operator).
extension ConsumptionEngine {
    /// Acknowledges a delivery: the message is finished for the group. Repeating an ack is fine.
    ///
    /// - Throws: `.invalidReceiptHandle` (forged, other group, never delivered),
    ///   `.staleReceiptHandle` (delivered again since), `.storageFailure`.
    public func ack(
        group: String, topic: String, receiptHandle: String, messageId: String = "", clientId: String = ""
    ) async throws(BrokerError) {
        try checkHealthy()
        let (handle, consumer) = try resolve(group: group, topic: topic, receiptHandle: receiptHandle)
        let (outcome, write, unblocked, attempt) = await consumer.ack(handle, nowMs: nowMs())
        if outcome == .done || outcome == .alreadyFinished {
            try await appendReplicated(.ack, group: group, topic: topic, body: Self.encodeAcks([handle]))
        }
        try await stored(write)
        if outcome == .done, !messageId.isEmpty {
            trace?.acked(messageId: messageId, group: group, clientId: clientId, attempt: attempt)
        }
        if unblocked { waiters.notify(group: group, topic: topic) }
        try Self.check(outcome, handle: handle, action: "acknowledge")
    }

    /// Acknowledges every entry of one AckMessage request, with one SQLite write for all of them;
    /// each entry gets its own result (the errors `ack` throws).
    public func ack(group: String, topic: String, entries: [AckEntry], clientId: String = "") async
        -> [Result<Void, BrokerError>]
    {
        if let latched = failure.withLock({ $0 }) { return entries.map { _ in .failure(latched) } }
        var results = [Result<Void, BrokerError>?](repeating: nil, count: entries.count)
        var handles: [ReceiptHandle] = []
        var positions: [Int] = []
        var consumer: TopicConsumer?
        for (index, entry) in entries.enumerated() {
            do throws(BrokerError) {
                let (handle, found) = try resolve(group: group, topic: topic, receiptHandle: entry.receiptHandle)
                consumer = found
                handles.append(handle)
                positions.append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        if let consumer, !handles.isEmpty {
            let (outcomes, write, unblocked) = await consumer.ack(handles, nowMs: nowMs())
            var stored: BrokerError?
            do throws(BrokerError) {
                // A replicated group: the acks (repeated ones too, which may be retries of an ack
                // whose record failed) are one record, held by a quorum before they are answered;
                // the SQLite write queued above commits meanwhile.
                let acked = zip(handles, outcomes).filter { $0.1.0 == .done || $0.1.0 == .alreadyFinished }.map(\.0)
                if !acked.isEmpty { try await appendReplicated(.ack, group: group, topic: topic, body: Self.encodeAcks(acked)) }
                try await self.stored(write)
            } catch {
                stored = error
            }
            for (position, (handle, outcome)) in zip(positions, zip(handles, outcomes)) {
                if let stored {
                    results[position] = .failure(stored)
                    continue
                }
                do throws(BrokerError) {
                    try Self.check(outcome.0, handle: handle, action: "acknowledge")
                    results[position] = .success(())
                    if outcome.0 == .done, !entries[position].messageId.isEmpty {
                        trace?.acked(
                            messageId: entries[position].messageId, group: group, clientId: clientId,
                            attempt: outcome.attempt)
                    }
                } catch {
                    results[position] = .failure(error)
                }
            }
            if unblocked { waiters.notify(group: group, topic: topic) }
        }
        return results.map { $0 ?? .success(()) }
    }

    /// Sets a delivery's remaining invisible time (from now) and returns the handle to use from
    /// now on; a short time is how consumers ask for an early retry.
    public func changeInvisibleDuration(
        group: String, topic: String, receiptHandle: String, invisibleMs: Int64, messageId: String = "",
        clientId: String = ""
    ) async throws(BrokerError) -> String {
        try checkHealthy()
        try Self.checkTerms(batch: 1, invisibleMs: invisibleMs)
        let (handle, consumer) = try resolve(group: group, topic: topic, receiptHandle: receiptHandle)
        let (outcome, renewed, write) = await consumer.changeInvisibleDuration(handle, invisibleMs: invisibleMs, nowMs: nowMs())
        try await stored(write)
        try Self.check(outcome, handle: handle, action: "change the invisible time of")
        guard let renewed else {
            throw BrokerError(.staleReceiptHandle, "the message at queue offset \(handle.queueOffset) was already finished")
        }
        if invisibleMs <= 1000 { waiters.notify(group: group, topic: topic) }
        if !messageId.isEmpty {
            trace?.invisibilityChanged(
                messageId: messageId, group: group, clientId: clientId, invisibleUntilMs: renewed.invisibleUntilMs)
        }
        return encode(renewed, group: group, topic: topic)
    }

    /// Makes `deliveries` (from one receive of `group` and `topic`) visible again at once: their
    /// receive was cancelled or its response could not be written, so the consumer never saw
    /// them. Waiting receives are woken. Returns how many were still current and released.
    @discardableResult
    public func release(group: String, topic: String, deliveries: [Delivery]) async throws(BrokerError) -> Int {
        guard !deliveries.isEmpty, let consumer = existingConsumer(group, topic) else { return 0 }
        let (released, write) = await consumer.release(deliveries.map(\.handle), nowMs: nowMs())
        try await stored(write)
        if released > 0 {
            waiters.notify(group: group, topic: topic)
            Counter(label: "sluice_deliveries_released_total", dimensions: [("topic", topic), ("group", group)])
                .increment(by: released)
        }
        return released
    }

    /// Makes the group's delivered, unacknowledged messages on `topic` due again now (see
    /// `TopicConsumer.redeliverInFlight`); returns how many. For a group read by one consumer
    /// only (an MQTT session's own group): another consumer's claims would be taken from it.
    /// - Throws: `.storageFailure` when the change cannot be stored.
    public func redeliverInFlight(group: String, topic: String) async throws(BrokerError) -> Int {
        try checkHealthy()
        guard let consumer = existingConsumer(group, topic) else { return 0 }
        let (count, write) = await consumer.redeliverInFlight(nowMs: nowMs())
        try await stored(write)
        if count > 0 { waiters.notify(group: group, topic: topic) }
        return count
    }

    /// Moves a delivered message to the group's dead-letter queue now (a consumer gave up on it).
    public func forwardToDeadLetter(group: String, topic: String, receiptHandle: String) async throws(BrokerError) {
        try checkHealthy()
        let (handle, consumer) = try resolve(group: group, topic: topic, receiptHandle: receiptHandle)
        let (outcome, candidate) = await consumer.beginDeadLetter(handle)
        try Self.check(outcome, handle: handle, action: "dead-letter")
        guard let candidate, let definition = self.group(named: group) else { return }
        await moveToDeadLetter([candidate], consumer: consumer, group: definition)
    }

    /// Re-drives the group's dead letters not re-driven before (at most `limit`): each one's
    /// original message becomes unfinished for the group again and is delivered anew, to this
    /// group only (other groups that finished it are not touched). Returns how many.
    ///
    /// - Throws: `.groupNotFound`; `.invalidArgument` while another re-drive of the group runs;
    ///   `.storageFailure`.
    public func redriveDeadLetters(group name: String, limit: Int = 10_000) async throws(BrokerError) -> Int {
        guard let group = group(named: name) else {
            throw BrokerError(.groupNotFound, "consumer group \(name) does not exist")
        }
        try checkHealthy()
        let started = state.withLock { $0.redriving.insert(name).inserted }
        guard started else { throw BrokerError(.invalidArgument, "the dead letters of \(name) are being re-driven already") }
        defer { _ = state.withLock { $0.redriving.remove(name) } }
        let queue = QueueID(topic: group.deadLetterTopic, queueId: 0)
        let bounds = log.queueBounds(queue)
        var cursor = max(state.withLock { $0.redriven[name] } ?? 0, bounds.min)
        var count = 0
        var touched: Set<String> = []
        while count < limit, cursor < bounds.next {
            let entries = log.queueEntries(queue, from: cursor, maxCount: min(256, limit - count))
            if entries.isEmpty { break }
            // A replicated group: the batch's origins are records (one per topic) before they reopen.
            var found: [(record: StoredRecord, origin: (topic: String, queueId: UInt32, offset: UInt64), consumer: TopicConsumer)] = []
            for entry in entries {
                guard let record = try? log.read(entry, of: queue),
                    let origin = record.property(MessageProperty.deadLetterOrigin).flatMap(Self.parseOrigin),
                    let consumer = existingConsumer(name, origin.topic)
                else { continue }
                found.append((record, origin, consumer))
            }
            if isReplicated {
                let byTopic = Dictionary(grouping: found, by: \.origin.topic)
                for topic in byTopic.keys.sorted() {
                    let byQueue = Dictionary(grouping: byTopic[topic]!, by: \.origin.queueId)
                    try await appendReplicated(
                        .reopen, group: name, topic: topic,
                        body: Self.encodeOffsets(byQueue.keys.sorted().map { ($0, byQueue[$0]!.map(\.origin.offset)) }))
                }
            }
            if let last = entries.last { cursor = last.queueOffset + 1 }
            for (record, origin, consumer) in found {
                let (reopened, write) = await consumer.reopen(
                    queueId: origin.queueId, offset: origin.offset,
                    messageGroup: record.property(MessageProperty.messageGroup), nowMs: nowMs())
                try await stored(write)
                if reopened {
                    count += 1
                    touched.insert(origin.topic)
                }
            }
        }
        try await appendReplicated(.redrive, group: name, properties: [(ReplicatedProperty.cursor, "\(cursor)")])
        var changes = ConsumptionChanges()
        changes.resetCursors.append(
            CursorRow(group: Self.redrivePrefix + name, topic: group.deadLetterTopic, queueId: 0, nextOffset: cursor))
        try await table.apply(changes)
        state.withLock { $0.redriven[name] = cursor }
        for topic in touched { waiters.notify(group: name, topic: topic) }
        logger.info("dead letters re-driven", metadata: ["group": "\(name)", "count": "\(count)"])
        return count
    }
}
