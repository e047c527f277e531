import Logging
import Metrics
import NIOCore
import SluiceStorage
import Synchronization

/// Where a group stands in a topic: committed offsets, subscription (which fixes where a new group
/// starts), and operator resets.
extension ConsumptionEngine {
    /// The group's committed offset in one queue (everything below is finished).
    public func committedOffset(group: ConsumerGroup, topic: TopicDefinition, queueId: UInt32) async throws(BrokerError)
        -> UInt64
    {
        await (try await subscribed(group, topic)).committedOffset(queueId: queueId)
    }

    /// Sets the group's position in one queue (a pull consumer's UpdateOffset); see
    /// `resetOffsets` for what happens to the unfinished messages there.
    public func resetOffset(group: ConsumerGroup, topic: TopicDefinition, queueId: UInt32, to offset: UInt64)
        async throws(BrokerError)
    {
        try checkHealthy()
        let consumer = try await subscribed(group, topic)
        try await appendReplicated(.reset, group: group.name, topic: topic.name, body: Self.encodeOffsets([(queueId, [offset])]))
        try await stored(consumer.reset(queueId: queueId, to: offset, nowMs: nowMs()))
        waiters.notify(group: group.name, topic: topic.name)
    }

    /// The log was cut back (a replicated broker dropped a divergent tail): first the groups and
    /// pairs the cut consumer records changed are put back as the log defines them
    /// (`copiedLogTruncated()`), then every group forgets the messages it held at or past the new
    /// end of each queue and its position moves back there (`TopicConsumer.forgetCut()`). Returns
    /// how many group-topic pairs changed position.
    /// - Throws: `.storageFailure` when the table cannot be written.
    @discardableResult
    public func logWasCut() async throws(BrokerError) -> Int {
        try await copiedLogTruncated()
        let consumers = state.withLock { Array($0.consumers.values) }
        var changed = 0
        for consumer in consumers {
            guard let write = await consumer.forgetCut() else { continue }
            try await stored(write)
            changed += 1
        }
        return changed
    }

    /// Subscribes `group` to `topic`: the first time, fixes and stores the group's start position
    /// in every queue by its `consumeFrom` setting. Consumers subscribe when they announce their
    /// subscriptions (Telemetry settings) and again on every receive; only the first counts.
    public func subscribe(group: ConsumerGroup, topic: TopicDefinition) async throws(BrokerError) {
        try checkHealthy()
        _ = try await subscribed(group, topic)
    }

    /// Moves an operator-chosen group's position in every queue of `topic` to `target` and returns
    /// each queue's position before and after. Messages in flight stay ackable (see
    /// `TopicConsumer.reset(to:nowMs:)`); long-polling consumers of the group are woken.
    ///
    /// - Throws: `.groupNotFound`, `.storageFailure`.
    public func resetOffsets(group name: String, topic: TopicDefinition, to target: OffsetTarget) async throws(BrokerError)
        -> [QueueOffsetChange]
    {
        guard let group = group(named: name) else {
            throw BrokerError(.groupNotFound, "consumer group \(name) does not exist")
        }
        try checkHealthy()
        let consumer = try await subscribed(group, topic)
        var offsets: [UInt32: UInt64] = [:]
        for queueId in 0..<UInt32(max(1, topic.queueCount)) {
            let queue = QueueID(topic: topic.name, queueId: queueId)
            let bounds = log.queueBounds(queue)
            switch target {
            case .earliest: offsets[queueId] = bounds.min
            case .latest: offsets[queueId] = bounds.next
            case .timestamp(let ms):
                offsets[queueId] = min(max(log.queueOffset(queue, atOrAfterTimestampMs: ms), bounds.min), bounds.next)
            }
        }
        try await appendReplicated(
            .reset, group: name, topic: topic.name, body: Self.encodeOffsets(offsets.map { ($0.key, [$0.value]) }))
        let (changes, write) = await consumer.reset(to: offsets, nowMs: nowMs())
        try await stored(write)
        waiters.notify(group: name, topic: topic.name)
        logger.info(
            "consumer group offsets reset",
            metadata: [
                "group": "\(name)", "topic": "\(topic.name)",
                "queues": "\(changes.map { "\($0.queueId):\($0.from)->\($0.to)" }.joined(separator: ","))",
            ])
        return changes
    }
}
