import Metrics
import SluiceStorage

extension ConsumptionEngine {
    /// The recall handle for a DELAY message just stored (SendResultEntry.recall_handle).
    public func recallHandle(topic: String, appended: AppendResult, queueId: UInt32, deliveryMs: Int64) -> String {
        RecallHandle(
            physicalOffset: appended.physicalOffset, queueId: queueId, queueOffset: appended.queueOffset,
            deliveryMs: deliveryMs, messageId: appended.messageId
        ).encoded(key: key, topic: topic)
    }

    /// Recalls a DELAY message before its delivery time (RocketMQ 5.3's RecallMessage): it is
    /// never delivered to any group, also after a restart (the recall is stored before this
    /// returns). Groups that already scheduled it drop it at once. Returns the message id.
    ///
    /// The delivery time is checked and the recall marked under one lock that every group's scan
    /// and timer consult, so a message is either recalled or delivered, never both (on one
    /// clock; a wall clock stepped backwards can still let a delivery slip in first).
    ///
    /// - Throws: `.invalidArgument` for a handle this broker did not issue for `topic`;
    ///   `.notRecallable` when the message is gone from the log, its delivery time has come
    ///   (delivered), or it was recalled before; `.storageFailure`.
    public func recall(topic: String, handle text: String, clientId: String = "") async throws(BrokerError) -> String {
        try checkHealthy()
        let handle = try RecallHandle.decode(text, key: key, topic: topic)
        let record: StoredRecord
        do throws(StorageError) {
            record = try log.read(at: handle.physicalOffset)
        } catch {
            throw BrokerError(
                .notRecallable, "message \(handle.messageId) of topic \(topic) is no longer stored; nothing to recall")
        }
        guard record.message.messageId == handle.messageId, record.topic == topic,
            RecordKind(rawValue: record.message.messageType) == .delay
        else {
            throw BrokerError(.notRecallable, "message \(handle.messageId) of topic \(topic) is no longer stored; nothing to recall")
        }
        let now = nowMs()
        switch recalls.insert(handle.physicalOffset, if: { handle.deliveryMs > nowMs() }) {
        case .alreadyRecalled:
            throw BrokerError(.notRecallable, "message \(handle.messageId) of topic \(topic) was recalled already")
        case .tooLate:
            throw BrokerError(
                .notRecallable,
                "message \(handle.messageId) of topic \(topic) was due at \(handle.deliveryMs) ms since the epoch "
                    + "(now \(now)); it is delivered and can no longer be recalled")
        case .inserted:
            break
        }
        // In a replicated group the recall is a record first (answered once the replication mode
        // acknowledges it), so a new leader never delivers what was recalled on the old one.
        do throws(BrokerError) {
            try await appendReplicated(
                .recall, group: "", topic: topic,
                properties: [
                    (ReplicatedProperty.physicalOffset, "\(handle.physicalOffset)"),
                    (ReplicatedProperty.queueId, "\(handle.queueId)"),
                    (ReplicatedProperty.queueOffset, "\(handle.queueOffset)"),
                    (ReplicatedProperty.messageId, handle.messageId),
                    (ReplicatedProperty.deliveryMs, "\(handle.deliveryMs)"),
                    (ReplicatedProperty.at, "\(now)"),
                ])
        } catch {
            recalls.remove(handle.physicalOffset)
            throw error
        }
        try await applyRecall(
            physicalOffset: handle.physicalOffset, topic: topic, queueId: handle.queueId, queueOffset: handle.queueOffset,
            messageId: handle.messageId, deliveryMs: handle.deliveryMs, atMs: now)
        Counter(label: "sluice_messages_recalled_total", dimensions: [("topic", topic)]).increment()
        trace?.recalled(messageId: handle.messageId, topic: topic, clientId: clientId)
        return handle.messageId
    }

    /// Stores a recall (already in `recalls`) and drops the message from every group that
    /// scheduled it. Here and on a follower applying the leader's recall record.
    func applyRecall(
        physicalOffset: UInt64, topic: String, queueId: UInt32, queueOffset: UInt64, messageId: String, deliveryMs: Int64,
        atMs: Int64
    ) async throws(BrokerError) {
        try await stored(
            table.saveRecall(physicalOffset: physicalOffset, topic: topic, messageId: messageId, deliveryMs: deliveryMs, atMs: atMs))
        for consumer in consumers(ofTopic: topic) {
            if let write = await consumer.dropRecalled(queueId: queueId, offset: queueOffset, nowMs: atMs) {
                try await stored(write)
            }
        }
    }
}
