import Logging
import SluiceStorage
import Synchronization

/// A divergent log tail cut at a leader change (docs/architecture.md §15) takes the consumer state
/// its records made with it: the log stays the truth. Before the cut the tail's records are noted
/// (`forgetLogTail(from:)`); after it (`copiedLogTruncated()`) each group, group–topic pair and
/// re-drive cursor they named is put back as the records left in the consumer queue define it,
/// each message a cut ack finished is unfinished again, and each DELAY message a cut recall
/// withdrew is scheduled again.
extension ConsumptionEngine {
    /// The log is about to be cut at commit-log offset `cut`: notes what the tail's records
    /// changed (undone by `copiedLogTruncated()`) and stops replays before the tail until then.
    public func forgetLogTail(from cut: UInt64) async {
        guard isReplicated else { return }
        await replicationSerializer.run("apply") { () async -> Void in
            let bounds = log.queueBounds(Self.replicationQueue)
            var tail = CutTail(firstOffset: bounds.next)
            // Only the tail is read: the queue holds a record per receive and per ack.
            var offset = log.firstQueueOffset(Self.replicationQueue, atOrAfterPhysicalOffset: cut)
            while offset < bounds.next {
                let entries = log.queueEntries(Self.replicationQueue, from: offset, maxCount: Int(min(256, bounds.next - offset)))
                if entries.isEmpty { break }
                for entry in entries {
                    offset = entry.queueOffset + 1
                    guard entry.physicalOffset >= cut else { continue }
                    tail.firstOffset = min(tail.firstOffset, entry.queueOffset)
                    if let record = try? log.read(entry, of: Self.replicationQueue) { tail.note(record) }
                }
            }
            state.withLock { state in
                state.replicationCut = state.replicationCut.map { $0.merged(with: tail) } ?? tail
            }
        }
    }

    /// The log was cut: the cursor moves back to the consumer queue's new end (records copied
    /// there later are applied as usual). Each group a cut record saved or deleted is put back as
    /// the last group record left defines it (deleted when none does); each pair a cut record
    /// subscribed, reset or reopened (and each pair of a put-back group that is missing here) is
    /// rebuilt from the records left naming it (removed when none does); each cut re-drive cursor
    /// goes back to the last one left; each message a cut ack finished is unfinished again for its
    /// group (delivered anew); and each DELAY message a cut recall withdrew is recallable and
    /// scheduled again at its delivery time, unless a recall left in the log withdrew it too.
    func copiedLogTruncated() async throws(BrokerError) {
        guard let link = replication.withLock({ $0 }) else { return }
        try await replicationSerializer.run("apply") { () async throws(BrokerError) -> Void in
            let next = log.queueBounds(Self.replicationQueue).next
            let (moved, tail) = state.withLock { state -> (Bool, CutTail?) in
                defer { state.replicationCut = nil }
                guard let cursor = state.replicatedCursor, cursor > next else { return (false, state.replicationCut) }
                state.replicatedCursor = next
                return (true, state.replicationCut)
            }
            if moved { try await storeReplicatedCursor(next) }
            guard let tail else { return }
            let rebuilt = try await putBack(tail, link: link)
            // A rebuilt pair already holds only the acks left in the log.
            try await reopen(tail.acks.filter { !rebuilt.contains(ConsumerPair(group: $0.group, topic: $0.topic)) })
            try await undo(tail.deliveries.filter { !rebuilt.contains($0.pair) })
            try await unrecall(tail.recalls)
        }
    }

    /// Puts back the groups, pairs and re-drive cursors the tail named, as the records left in
    /// the queue define them; returns the pairs rebuilt.
    private func putBack(_ tail: CutTail, link: ConsumerReplication) async throws(BrokerError) -> Set<ConsumerPair> {
        guard !tail.groups.isEmpty || !tail.pairs.isEmpty || !tail.redriven.isEmpty else { return [] }
        let remaining = remainingDefinitions(for: tail)
        for name in tail.groups.sorted() { try await putBackGroup(name, as: remaining.groups[name]) }
        // A group the tail deleted (or recreated) lost its pairs here: the records left make them again.
        let lost = remaining.pairRecords.keys.filter {
            tail.groups.contains($0.group) && existingConsumer($0.group, $0.topic) == nil
        }
        let pairs = tail.pairs.union(lost)
        for pair in pairs.sorted() { try await rebuild(pair, from: remaining.pairRecords[pair] ?? [], link: link) }
        for name in tail.redriven.sorted() { try await putBackRedriveCursor(name, at: remaining.redriveCursors[name]) }
        return pairs
    }

    /// Reads the queue's remaining records from its start, in order, for what they define of the
    /// names the tail changed. A group delete ends what came before it for that group.
    private func remainingDefinitions(for tail: CutTail) -> RemainingDefinitions {
        var remaining = RemainingDefinitions()
        let bounds = log.queueBounds(Self.replicationQueue)
        var offset = bounds.min
        while offset < bounds.next {
            let entries = log.queueEntries(
                Self.replicationQueue, from: offset, maxCount: Int(min(256, bounds.next - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                offset = entry.queueOffset + 1
                guard let record = try? log.read(entry, of: Self.replicationQueue),
                    let change = record.property(ReplicatedProperty.change).flatMap(ReplicatedChange.init),
                    let group = record.property(ReplicatedProperty.group)
                else { continue }
                let pair = ConsumerPair(group: group, topic: record.property(ReplicatedProperty.topic) ?? "")
                switch change {
                case .saveGroup:
                    if tail.groups.contains(group), let settings = Self.group(group, from: record) {
                        remaining.groups[group] = settings
                    }
                case .deleteGroup:
                    remaining.groups[group] = nil
                    remaining.pairRecords = remaining.pairRecords.filter { $0.key.group != group }
                    remaining.redriveCursors[group] = nil
                case .subscribe, .reset, .ack, .reopen, .deliver:
                    if tail.pairs.contains(pair) || tail.groups.contains(group) {
                        remaining.pairRecords[pair, default: []].append(entry)
                    }
                case .redrive:
                    if tail.redriven.contains(group) {
                        let cursor = record.property(ReplicatedProperty.cursor).flatMap(UInt64.init)
                        remaining.redriveCursors[group] = cursor
                    }
                case .recall, .signingKey:
                    break
                }
            }
        }
        return remaining
    }

    /// Saves the group as the log defines it, or deletes it (with its pairs) when the log does not.
    private func putBackGroup(_ name: String, as defined: ConsumerGroup?) async throws(BrokerError) {
        let current = group(named: name)
        if let defined {
            if current == defined { return }
            // Deleted and made again in the cut tail: the group the log defines is the older one,
            // and its pairs are rebuilt from the log (a save keeps the creation time it finds).
            if let current, current.createdAtMs != defined.createdAtMs { _ = try await deleteGroupLocally(named: name) }
            _ = try await saveGroupLocally(defined)
        } else {
            guard current != nil else { return }
            _ = try await deleteGroupLocally(named: name)
        }
        logger.warning("consumer group put back as the cut log defines it", metadata: ["group": "\(name)"])
    }

    /// Forgets the pair's state here and applies the records left naming it again, in log order;
    /// with none left, the pair is gone. A pair of a group that does not exist went with it.
    private func rebuild(_ pair: ConsumerPair, from entries: [QueueEntry], link: ConsumerReplication)
        async throws(BrokerError)
    {
        guard group(named: pair.group) != nil else { return }
        let existed = state.withLock { $0.consumers.removeValue(forKey: Self.pairKey(pair.group, pair.topic)) } != nil
        var changes = ConsumptionChanges()
        changes.droppedPairs = [pair]
        try await stored(table.enqueue(changes))
        for entry in entries {
            guard let record = try? log.read(entry, of: Self.replicationQueue) else { continue }
            try await applyCopied(record, link: link)
        }
        if existed || !entries.isEmpty {
            logger.warning(
                "consumer pair put back as the cut log defines it",
                metadata: ["group": "\(pair.group)", "topic": "\(pair.topic)"])
        }
    }

    /// Moves the group's re-drive cursor to the last one the log left (none: nothing re-driven).
    private func putBackRedriveCursor(_ name: String, at cursor: UInt64?) async throws(BrokerError) {
        guard let group = group(named: name), state.withLock({ $0.redriven[name] }) != cursor else { return }
        var changes = ConsumptionChanges()
        changes.resetCursors.append(
            CursorRow(
                group: Self.redrivePrefix + name, topic: group.deadLetterTopic, queueId: 0, nextOffset: cursor ?? 0))
        try await stored(table.enqueue(changes))
        state.withLock { $0.redriven[name] = cursor }
        logger.warning("consumer re-drive cursor put back as the cut log defines it", metadata: ["group": "\(name)"])
    }

    /// Withdraws the recalls of a cut tail: the next leader never saw them, so its groups deliver
    /// those DELAY messages at their time, and so must this broker's once it leads. A message a
    /// recall left in the log withdrew too stays recalled.
    private func unrecall(_ cut: [CutRecall]) async throws(BrokerError) {
        guard !cut.isEmpty else { return }
        let kept = remainingRecalls()
        var restored = 0
        for recall in cut where !kept.contains(recall.physicalOffset) && recalls.contains(recall.physicalOffset) {
            try await stored(table.deleteRecall(physicalOffset: recall.physicalOffset))
            recalls.remove(recall.physicalOffset)
            for consumer in consumers(ofTopic: recall.topic) {
                let line = consumer.ordered
                    ? readMessageGroup(ReplicatedAck(group: "", topic: recall.topic, queueId: recall.queueId, offset: recall.queueOffset))
                    : nil
                // A group whose cursor has not reached it yet finds it as usual.
                let (_, write) = await consumer.reopen(
                    queueId: recall.queueId, offset: recall.queueOffset, messageGroup: line, nowMs: nowMs(),
                    deliverableAtMs: recall.deliveryMs)
                try await stored(write)
            }
            restored += 1
        }
        if restored > 0 {
            logger.warning("recalls of a cut log tail undone", metadata: ["messages": "\(restored)"])
        }
    }

    /// The physical offsets the recall records left in the consumer queue withdrew.
    private func remainingRecalls() -> Set<UInt64> {
        var recalled: Set<UInt64> = []
        let bounds = log.queueBounds(Self.replicationQueue)
        var offset = bounds.min
        while offset < bounds.next {
            let entries = log.queueEntries(Self.replicationQueue, from: offset, maxCount: Int(min(256, bounds.next - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                offset = entry.queueOffset + 1
                guard let record = try? log.read(entry, of: Self.replicationQueue),
                    record.property(ReplicatedProperty.change) == ReplicatedChange.recall.rawValue,
                    let physicalOffset = record.property(ReplicatedProperty.physicalOffset).flatMap(UInt64.init)
                else { continue }
                recalled.insert(physicalOffset)
            }
        }
        return recalled
    }

    /// Makes each delivery a cut record made due at once (the next leader never saw it), unless
    /// the message was delivered again or finished since.
    private func undo(_ deliveries: [CutDelivery]) async throws(BrokerError) {
        var undone = 0
        for delivery in deliveries {
            guard let consumer = existingConsumer(delivery.pair.group, delivery.pair.topic),
                let write = await consumer.undoCopiedDelivery(
                    queueId: delivery.queueId, offset: delivery.queueOffset, deliveryToken: delivery.deliveryToken,
                    nowMs: nowMs())
            else { continue }
            try await stored(write)
            undone += 1
        }
        if undone > 0 {
            logger.warning("deliveries of a cut log tail undone: due again at once", metadata: ["messages": "\(undone)"])
            for pair in Set(deliveries.map(\.pair)) { waiters.notify(group: pair.group, topic: pair.topic) }
        }
    }

    /// Makes each message a cut ack finished unfinished again for its group.
    private func reopen(_ acks: [ReplicatedAck]) async throws(BrokerError) {
        var reopened = 0
        for ack in acks {
            guard let consumer = existingConsumer(ack.group, ack.topic) else { continue }
            let line = consumer.ordered ? readMessageGroup(ack) : nil
            let (done, write) = await consumer.reopen(
                queueId: ack.queueId, offset: ack.offset, messageGroup: line, nowMs: nowMs())
            try await stored(write)
            if done { reopened += 1 }
        }
        if reopened > 0 {
            logger.warning("acks of a cut log tail undone", metadata: ["messages": "\(reopened)"])
        }
    }
}

/// What the consumer records of a log tail about to be cut changed, merged across cuts.
struct CutTail: Sendable {
    /// The tail's first consumer-queue offset: replays stop before it until the cut is done.
    var firstOffset: UInt64
    /// The messages its ack records finished.
    var acks: [ReplicatedAck] = []
    /// The groups it saved or deleted.
    var groups: Set<String> = []
    /// The pairs it subscribed, reset or reopened messages of.
    var pairs: Set<ConsumerPair> = []
    /// The groups whose dead letters it re-drove.
    var redriven: Set<String> = []
    /// The DELAY messages it recalled.
    var recalls: [CutRecall] = []
    /// The deliveries its `deliver` records made (the last state each message was left in).
    var deliveries: [CutDelivery] = []

    mutating func note(_ record: StoredRecord) {
        typealias Property = ConsumptionEngine.ReplicatedProperty
        guard let change = record.property(Property.change).flatMap(ConsumptionEngine.ReplicatedChange.init),
            let group = record.property(Property.group)
        else { return }
        let topic = record.property(Property.topic) ?? ""
        switch change {
        case .ack:
            for (queueId, offsets) in ConsumptionEngine.decodeOffsets(record.body) {
                acks += offsets.map { ReplicatedAck(group: group, topic: topic, queueId: queueId, offset: $0) }
            }
        case .saveGroup, .deleteGroup:
            groups.insert(group)
        case .subscribe, .reset, .reopen:
            pairs.insert(ConsumerPair(group: group, topic: topic))
        case .redrive:
            redriven.insert(group)
        case .recall:
            guard let physicalOffset = record.property(Property.physicalOffset).flatMap(UInt64.init),
                let queueId = record.property(Property.queueId).flatMap(UInt32.init),
                let queueOffset = record.property(Property.queueOffset).flatMap(UInt64.init),
                let deliveryMs = record.property(Property.deliveryMs).flatMap(Int64.init)
            else { return }
            recalls.append(
                CutRecall(
                    physicalOffset: physicalOffset, topic: topic, queueId: queueId, queueOffset: queueOffset,
                    deliveryMs: deliveryMs))
        case .signingKey:
            // The next leader's key record replaces a cut one.
            break
        case .deliver:
            guard let copied = CopiedDeliveries.decode(record.body) else { return }
            let pair = ConsumerPair(group: group, topic: topic)
            deliveries += copied.rows.filter { $0.attempt > 0 && $0.invisibleUntilMs > 0 }.map {
                CutDelivery(pair: pair, queueId: $0.queueId, queueOffset: $0.queueOffset, deliveryToken: $0.deliveryToken)
            }
        }
    }

    func merged(with later: CutTail) -> CutTail {
        CutTail(
            firstOffset: min(firstOffset, later.firstOffset), acks: acks + later.acks,
            groups: groups.union(later.groups), pairs: pairs.union(later.pairs),
            redriven: redriven.union(later.redriven), recalls: recalls + later.recalls,
            deliveries: deliveries + later.deliveries)
    }
}

/// A delivery a cut tail's `deliver` record made.
struct CutDelivery: Sendable {
    var pair: ConsumerPair
    var queueId: UInt32
    var queueOffset: UInt64
    var deliveryToken: UInt64
}

/// A DELAY message a cut tail's recall record withdrew.
struct CutRecall: Sendable {
    var physicalOffset: UInt64
    var topic: String
    var queueId: UInt32
    var queueOffset: UInt64
    var deliveryMs: Int64
}

/// What the records left in the consumer queue after a cut define for what the tail changed.
struct RemainingDefinitions {
    /// Per group the tail changed, its settings as the last save left them (absent: deleted
    /// last, or never defined).
    var groups: [String: ConsumerGroup] = [:]
    /// Per pair the tail changed, and per pair of a group it changed, the index entries of its
    /// records since its group was last deleted, oldest first.
    var pairRecords: [ConsumerPair: [QueueEntry]] = [:]
    /// Per group whose re-drive the tail changed, the last re-drive cursor.
    var redriveCursors: [String: UInt64] = [:]
}
