import Logging
import SluiceStorage
import Synchronization

/// The link of a replicated group's retained messages to the log.
struct MQTTRetainedReplicationState: Sendable {
    var journal: MQTTRetainedChangeJournal
    /// The retained-queue offset below which every record is applied here; nil: replay from the
    /// queue's start (every start-up does once).
    var cursor: UInt64?
    /// Between `forgetLogTail(from:)` and `copiedLogTruncated()`: the first retained-queue offset
    /// of the tail being cut (replays stop before it) and the topics its records named.
    var pendingCut: (firstOffset: UInt64, topics: Set<String>)?
}

/// MQTT retained messages of a replicated broker group (`--replicas` ≥ 2, docs/architecture.md
/// §15) follow the log like users and lite subscriptions do: every change on the leader is a
/// record of the topic's retained message as it stands afterwards (`MQTTRetainedChangeJournal`)
/// before the table changes; followers apply the copied records at start-up, every 100 ms and
/// once more at promotion, so a client subscribing on a new leader gets the retained messages it
/// would have got on the old one. The follower applies no limit: the leader did.
extension MQTTRetainedStore {
    /// Makes retained-message changes go through the log from now on; call before the store is published.
    public func replicate(through journal: MQTTRetainedChangeJournal) {
        replication.withLock { $0 = MQTTRetainedReplicationState(journal: journal) }
    }

    /// Applies the retained records copied into the log since the last call, in order, and moves
    /// the cursor past them. Returns how many records were read. Runs at start-up (from the
    /// queue's start), every follower tick and at promotion.
    /// - Throws: `BrokerError` `.storageFailure` when the table cannot be written (the cursor
    ///   stays at the failed record, so the next call tries it again).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        guard let log = replication.withLock({ $0?.journal.log }) else { return 0 }
        return try await writes.run { @Sendable () async throws(BrokerError) -> Int in
            let queue = MQTTRetainedChangeJournal.queue
            var bounds = log.queueBounds(queue)
            let (start, cut) = replication.withLock { ($0?.cursor, $0?.pendingCut?.firstOffset) }
            if let cut { bounds.next = min(bounds.next, cut) }
            var offset = max(bounds.min, min(bounds.next, start ?? bounds.min))
            var read = 0
            while offset < bounds.next {
                // Few at a time: each record may carry a payload of up to a message's size.
                let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(32, bounds.next - offset)))
                if entries.isEmpty { break }
                for entry in entries {
                    if let record = try? log.read(entry, of: queue), let change = MQTTRetainedChange(record: record) {
                        try await applyCopied(change)
                    } else {
                        logger.error("retained record unreadable; skipped", metadata: ["mqtt.retained.offset": "\(entry.queueOffset)"])
                    }
                    read += 1
                    offset = entry.queueOffset + 1
                    let reached = offset
                    replication.withLock { $0?.cursor = reached }
                }
            }
            let end = offset
            replication.withLock { state in
                let reached = max(state?.cursor ?? bounds.next, end)
                state?.cursor = reached
            }
            return read
        }
    }

    /// Makes the table hold `change` (its message, or no message for an empty payload) unless it
    /// already does. Call inside `writes`. Returns whether anything changed.
    @discardableResult
    func applyCopied(_ change: MQTTRetainedChange) async throws(BrokerError) -> Bool {
        let current = message(of: change.topic)
        let wanted = change.payload.isEmpty ? nil : Message(topic: change.topic, payload: change.payload, qos: change.qos)
        if current == wanted { return false }
        try await store(change)
        return true
    }

    /// The log is about to be cut at commit-log offset `cut`: notes the topics the tail's records
    /// changed (so `copiedLogTruncated()` can put them back as the remaining log defines them)
    /// and stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            let queue = MQTTRetainedChangeJournal.queue
            let bounds = log.queueBounds(queue)
            var first = bounds.next
            var topics: Set<String> = []
            for entry in log.queueEntries(queue, from: bounds.min, maxCount: Int(min(UInt64(Int.max), bounds.next - bounds.min)))
            where entry.physicalOffset >= cut {
                first = min(first, entry.queueOffset)
                if let record = try? log.read(entry, of: queue), let topic = MQTTRetainedChange.topic(of: record) {
                    topics.insert(topic)
                }
            }
            let (tailStart, tailTopics) = (first, topics)
            replication.withLock { state in
                let pending = state?.pendingCut
                state?.pendingCut = (min(pending?.firstOffset ?? tailStart, tailStart), (pending?.topics ?? []).union(tailTopics))
            }
        }
    }

    /// The log was cut: each topic a cut record changed gets the retained message the last
    /// record left in the queue for it holds (none when no record names it), and the cursor moves
    /// to the queue's new end (records copied there later are applied as usual).
    public func copiedLogTruncated() async {
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        _ = try? await writes.run { @Sendable () async throws(BrokerError) -> Void in
            let queue = MQTTRetainedChangeJournal.queue
            let bounds = log.queueBounds(queue)
            let cut = replication.withLock { state in
                let kept = min(state?.cursor ?? bounds.next, bounds.next)
                state?.cursor = kept
                defer { state?.pendingCut = nil }
                return state?.pendingCut
            }
            guard let cut, !cut.topics.isEmpty else { return }
            var lastKept: [String: MQTTRetainedChange] = [:]
            for entry in log.queueEntries(queue, from: bounds.min, maxCount: Int(min(UInt64(Int.max), bounds.next - bounds.min))) {
                guard let record = try? log.read(entry, of: queue), let topic = MQTTRetainedChange.topic(of: record),
                    cut.topics.contains(topic), let change = MQTTRetainedChange(record: record)
                else { continue }
                lastKept[topic] = change
            }
            for topic in cut.topics.sorted() {
                let restored = lastKept[topic] ?? MQTTRetainedChange(topic: topic, payload: [], qos: 0)
                do throws(BrokerError) {
                    if try await applyCopied(restored) {
                        logger.warning(
                            "retained message put back as the cut log defines it", metadata: ["mqtt.topic": "\(topic.prefix(64))"])
                    }
                } catch {
                    logger.error(
                        "retained message change of a cut log tail not undone",
                        metadata: ["mqtt.topic": "\(topic.prefix(64))", "error": "\(error)"])
                }
            }
        }
    }

    /// Applies copied changes every `interval` while this broker follows (its log refuses local
    /// appends), until cancelled. Returns at once when retained messages are not replicated.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        guard let log = replication.withLock({ $0?.journal.log }) else { return }
        while !Task.isCancelled {
            if log.refusesLocalAppends {
                do throws(BrokerError) {
                    try await applyCopiedChanges()
                } catch {
                    logger.warning("copied retained message changes not applied yet", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
