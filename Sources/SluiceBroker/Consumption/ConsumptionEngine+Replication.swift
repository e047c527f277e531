import Crypto
import Logging
import NIOCore
import SluiceStorage
import Synchronization

/// The link of a replicated group's consumption engine to its broker group.
struct ConsumerReplication: Sendable {
    /// The node id of the group's leader as this broker last learned it (nil while unknown).
    var leader: @Sendable () -> String?
    /// The topic registry (its copied changes are applied before the consumer records after them).
    var topics: any TopicRegistry

    /// "the leader is b", for the refusals a follower answers with.
    var leaderPhrase: String { FollowerRefusal.leaderPhrase(leader()) }
}

/// The wording of what a follower of a replicated group refuses, shared by topics and consumers.
enum FollowerRefusal {
    static func leaderPhrase(_ leader: String?) -> String {
        leader.map { "the leader is \($0)" } ?? "no leader is known yet"
    }
}

/// Consumer state in a replicated broker group (`--replicas` ≥ 2, docs/architecture.md §15):
/// group creates, changes and deletes, each group–topic pair's start position (its first
/// subscription), acknowledgements (one record per ack request), dead-lettered messages,
/// dead-letter re-drives and offset resets are records in the commit log's consumer queue
/// (`RMQ_SYS_SLUICE_CONSUMERS#0`) before they are answered, next to the local SQLite write. Under `--replication sync` an ack is
/// answered once a quorum holds its record. Followers copy the log byte for byte and apply the
/// records to their own consumer tables (every ~100 ms, at start-up and at promotion), so a new
/// leader does not deliver again what was acknowledged on the old one.
///
/// Deliveries (claims, invisible-time changes, releases, renewals) are `deliver` records too
/// (DeliveryJournal.swift), appended without waiting: after a fail-over a message in flight stays
/// invisible until its time and its receipt handle still works, unless its record was lost with
/// the old leader (then it is due at once, a redelivery).
///
/// Applying is idempotent: a record applied twice (a restart replays from the stored cursor)
/// changes nothing more. A single broker (no `replicate(leader:topics:)`) writes no records.
extension ConsumptionEngine {
    public static let replicationQueue = QueueID(topic: "RMQ_SYS_SLUICE_CONSUMERS", queueId: 0)
    /// The record type byte of a consumer-state change (no message for consumers).
    public static let replicationRecordKind: UInt8 = 34
    /// The cursor row (group name) that stores how far the consumer queue is applied.
    static let replicationCursorGroup = "%replicated%"

    enum ReplicatedChange: String {
        case saveGroup = "group.save"
        case deleteGroup = "group.delete"
        case subscribe
        case ack
        case reset
        /// Messages a dead-letter re-drive made unfinished again (by origin topic).
        case reopen
        /// How far a group's dead letters are re-driven.
        case redrive
        /// A DELAY message recalled (group "": recalls hold for every group).
        case recall
        /// The leader's receipt- and recall-handle key (group ""), recorded once per leadership.
        case signingKey = "key"
        /// Deliveries of a pair changed: claims, invisible-time changes, releases, renewals
        /// (DeliveryJournal.swift). Not waited for.
        case deliver
    }

    enum ReplicatedProperty {
        static let change = "SLUICE_CONS_CHANGE"
        static let group = "SLUICE_CONS_GROUP"
        static let topic = "SLUICE_CONS_TOPIC"
        static let fifo = "SLUICE_CONS_FIFO"
        static let attempts = "SLUICE_CONS_ATTEMPTS"
        static let delays = "SLUICE_CONS_DELAYS"
        static let created = "SLUICE_CONS_CREATED"
        static let from = "SLUICE_CONS_FROM"
        static let cursor = "SLUICE_CONS_CURSOR"
        static let physicalOffset = "SLUICE_CONS_PHYSICAL"
        static let queueId = "SLUICE_CONS_QID"
        static let queueOffset = "SLUICE_CONS_QOFFSET"
        static let messageId = "SLUICE_CONS_MSGID"
        static let deliveryMs = "SLUICE_CONS_DELIVERY"
        static let at = "SLUICE_CONS_AT"
    }

    /// Turns replication on (a broker in a replicated group, before anything is served): from
    /// now on changes are recorded in the consumer queue first.
    public func replicate(leader: @escaping @Sendable () -> String?, topics: any TopicRegistry) {
        replication.withLock { $0 = ConsumerReplication(leader: leader, topics: topics) }
        journal.enable()
    }

    var isReplicated: Bool { replication.withLock { $0 != nil } }

    /// A follower of a replicated group: its deliveries are the leader's, copied.
    var isFollowing: Bool { log.refusesLocalAppends && isReplicated }

    /// A follower of a replicated group does not hand out messages: what it delivered could not
    /// be acknowledged there (acks change the leader's state) and would only come back. The
    /// client's next route lookup names the leader.
    func refuseDeliveryOnFollower() throws(BrokerError) {
        guard let link = replication.withLock({ $0 }), log.refusesLocalAppends else { return }
        throw BrokerError(
            .notLeader, "this broker follows its broker group's leader (\(link.leaderPhrase)): receive messages from the leader")
    }

    /// Appends one change record and returns once the replication mode acknowledges it (a quorum
    /// holds it under sync). Does nothing on a broker that does not replicate.
    /// - Throws: `.notLeader` on a follower, `.storageFailure` when the append fails.
    func appendReplicated(
        _ change: ReplicatedChange, group: String, topic: String = "", properties: [(String, String)] = [],
        body: ByteBuffer = ByteBuffer()
    ) async throws(BrokerError) {
        guard let link = replication.withLock({ $0 }) else { return }
        if log.refusesLocalAppends {
            throw BrokerError(
                .notLeader,
                "this broker follows its broker group's leader (\(link.leaderPhrase)): consumer groups and their progress change on "
                    + "the leader, and reach the followers through the replicated log")
        }
        var all = [(ReplicatedProperty.change, change.rawValue), (ReplicatedProperty.group, group)]
        if !topic.isEmpty { all.append((ReplicatedProperty.topic, topic)) }
        let record = MessageRecord(
            topic: Self.replicationQueue.topic, queueId: Self.replicationQueue.queueId, properties: all + properties,
            body: body, bornTimestampMs: WallClock.nowMs(), messageType: Self.replicationRecordKind)
        do throws(StorageError) {
            _ = try await log.append(record)
        } catch {
            let code: BrokerError.Code = error.code == .notLeader ? .notLeader : .storageFailure
            throw BrokerError(
                code, "cannot record the consumer change (\(change.rawValue) \(group) \(topic)): \(error.message)", cause: error)
        }
    }

    // MARK: following

    /// Applies the consumer records copied into the log since the last call, in order, moves the
    /// stored cursor past them and returns how many were applied. Runs at start-up, every
    /// follower tick and at promotion; the topic registry's copied changes are applied first.
    /// - Throws: `.storageFailure` when the tables cannot be written (the cursor stays at the
    ///   failed record).
    @discardableResult
    public func applyCopiedChanges() async throws(BrokerError) -> Int {
        guard let link = replication.withLock({ $0 }) else { return 0 }
        if let topics = link.topics as? ReplicatedTopicRegistry { try await topics.applyCopiedChanges() }
        return try await replicationSerializer.run("apply") { () async throws(BrokerError) -> Int in
            var bounds = log.queueBounds(Self.replicationQueue)
            if let cut = state.withLock({ $0.replicationCut?.firstOffset }) { bounds.next = min(bounds.next, cut) }
            let start = state.withLock { $0.replicatedCursor }
            var offset = max(bounds.min, min(bounds.next, start ?? bounds.min))
            var applied = 0
            defer { if applied > 0 { logger.debug("copied consumer changes applied", metadata: ["changes": "\(applied)"]) } }
            // Delivery records are many (one per receive): their table writes are awaited
            // together below, not one commit each. The table commits in order, so the cursor's
            // write after them commits only with them.
            var deliveryWrites: [PendingWrite] = []
            while offset < bounds.next {
                let entries = log.queueEntries(
                    Self.replicationQueue, from: offset, maxCount: Int(min(256, bounds.next - offset)))
                if entries.isEmpty { break }
                for entry in entries {
                    if let record = try? log.read(entry, of: Self.replicationQueue) {
                        if record.property(ReplicatedProperty.change) == ReplicatedChange.deliver.rawValue {
                            if let write = try await applyCopiedDeliveries(record, link: link) { deliveryWrites.append(write) }
                        } else {
                            try await applyCopied(record, link: link)
                        }
                        applied += 1
                    } else {
                        logger.error("consumer record unreadable; skipped", metadata: ["consumers.offset": "\(entry.queueOffset)"])
                    }
                    offset = entry.queueOffset + 1
                    state.withLock { $0.replicatedCursor = offset }
                }
            }
            for write in deliveryWrites { try await stored(write) }
            // Also when the stored cursor was past a log cut while the engine was not open yet.
            state.withLock { $0.replicatedCursor = offset }
            if start != offset { try await storeReplicatedCursor(offset) }
            return applied
        }
    }

    /// The leader's own records are applied as they are made: moves the cursor to the queue's end.
    /// First, once per leadership, records its handle key, so the followers sign and check receipt
    /// and recall handles as it does (a client's recall handle then works on the next leader).
    func passOwnRecords() async throws(BrokerError) {
        await recordKeyOnce()
        try await replicationSerializer.run("apply") { () async throws(BrokerError) -> Void in
            let next = log.queueBounds(Self.replicationQueue).next
            let changed = state.withLock { state -> Bool in
                guard state.replicatedCursor != next else { return false }
                state.replicatedCursor = next
                return true
            }
            if changed { try await storeReplicatedCursor(next) }
        }
    }

    /// Records this leader's handle key unless this leadership did. A failure (followers away
    /// under sync replication) is logged once and retried on the next tick; it holds nothing else
    /// up but this tick's cursor move.
    private func recordKeyOnce() async {
        guard !state.withLock({ $0.keyRecorded }) else { return }
        let raw = key.withUnsafeBytes { ByteBuffer(bytes: $0) }
        do throws(BrokerError) {
            try await appendReplicated(.signingKey, group: "", body: raw)
            state.withLock { $0.keyRecorded = true }
        } catch {
            logger.debug("handle key not recorded yet", metadata: ["error": "\(error)"])
        }
    }

    /// Applies copied changes every `interval` while this broker follows; while it leads, moves
    /// the cursor past its own records (so a restart replays only the last moments). Until
    /// cancelled.
    public func followChanges(every interval: Duration = .milliseconds(100)) async {
        while !Task.isCancelled {
            do throws(BrokerError) {
                if log.refusesLocalAppends {
                    state.withLock { $0.keyRecorded = false }  // a next leadership records it again
                    try await applyCopiedChanges()
                } else {
                    try await passOwnRecords()
                }
            } catch {
                logger.warning("copied consumer changes not applied yet", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: helpers

    /// The message group (FIFO line) of an acknowledged message, read from its record.
    func readMessageGroup(_ ack: ReplicatedAck) -> String? {
        let queue = QueueID(topic: ack.topic, queueId: ack.queueId)
        guard let entry = log.queueEntries(queue, from: ack.offset, maxCount: 1).first, entry.queueOffset == ack.offset else {
            return nil
        }
        return (try? log.read(entry, of: queue))?.property(MessageProperty.messageGroup)
    }

    func storeReplicatedCursor(_ offset: UInt64) async throws(BrokerError) {
        var changes = ConsumptionChanges()
        changes.resetCursors.append(
            CursorRow(group: Self.replicationCursorGroup, topic: Self.replicationQueue.topic, queueId: 0, nextOffset: offset))
        try await stored(table.enqueue(changes))
    }

    /// Applies one copied record to the tables here (also how a cut tail's pairs are rebuilt).
    func applyCopied(_ record: StoredRecord, link: ConsumerReplication) async throws(BrokerError) {
        guard let change = record.property(ReplicatedProperty.change).flatMap(ReplicatedChange.init),
            let groupName = record.property(ReplicatedProperty.group)
        else { return }
        let topicName = record.property(ReplicatedProperty.topic) ?? ""
        switch change {
        case .saveGroup:
            guard let group = Self.group(groupName, from: record) else {
                logger.error("copied consumer group change not readable", metadata: ["group": "\(groupName)"])
                return
            }
            _ = try await saveGroupLocally(group)
        case .deleteGroup:
            _ = try await deleteGroupLocally(named: groupName)
        case .subscribe:
            let start = Self.decodeOffsets(record.body).compactMap { queueId, offsets in
                offsets.first.map { CursorRow(group: groupName, topic: topicName, queueId: queueId, nextOffset: $0) }
            }
            _ = try await copiedConsumer(groupName, topicName, link: link, start: start)
        case .ack:
            let acked = Dictionary(Self.decodeOffsets(record.body), uniquingKeysWith: +)
            // A pair whose start record was not copied (made before the group replicated): it
            // starts at its first acknowledged offsets.
            let start = acked.compactMap { queueId, offsets in
                offsets.min().map { CursorRow(group: groupName, topic: topicName, queueId: queueId, nextOffset: $0) }
            }
            guard let consumer = try await copiedConsumer(groupName, topicName, link: link, start: start) else { return }
            if let write = await consumer.applyCopiedAcks(acked, nowMs: nowMs()) { try await stored(write) }
        case .reopen:
            guard let consumer = existingConsumer(groupName, topicName) else { return }
            for (queueId, offsets) in Self.decodeOffsets(record.body) {
                for offset in offsets {
                    let ack = ReplicatedAck(group: groupName, topic: topicName, queueId: queueId, offset: offset)
                    let line = consumer.ordered ? readMessageGroup(ack) : nil
                    try await stored(consumer.reopen(queueId: queueId, offset: offset, messageGroup: line, nowMs: nowMs()).1)
                }
            }
        case .redrive:
            guard let cursor = record.property(ReplicatedProperty.cursor).flatMap(UInt64.init),
                let group = self.group(named: groupName)
            else { return }
            var changes = ConsumptionChanges()
            changes.resetCursors.append(
                CursorRow(group: Self.redrivePrefix + groupName, topic: group.deadLetterTopic, queueId: 0, nextOffset: cursor))
            try await stored(table.enqueue(changes))
            state.withLock { $0.redriven[groupName] = cursor }
        case .recall:
            guard let physicalOffset = record.property(ReplicatedProperty.physicalOffset).flatMap(UInt64.init),
                let queueId = record.property(ReplicatedProperty.queueId).flatMap(UInt32.init),
                let queueOffset = record.property(ReplicatedProperty.queueOffset).flatMap(UInt64.init),
                let deliveryMs = record.property(ReplicatedProperty.deliveryMs).flatMap(Int64.init),
                let atMs = record.property(ReplicatedProperty.at).flatMap(Int64.init)
            else {
                logger.error("copied recall not readable", metadata: ["topic": "\(topicName)"])
                return
            }
            // The leader decided it was still recallable; applied whatever the time is now.
            _ = recalls.insert(physicalOffset, if: { true })
            try await applyRecall(
                physicalOffset: physicalOffset, topic: topicName, queueId: queueId, queueOffset: queueOffset,
                messageId: record.property(ReplicatedProperty.messageId) ?? "", deliveryMs: deliveryMs, atMs: atMs)
        case .signingKey:
            let bytes = Array(record.body.readableBytesView)
            guard bytes.count >= 16 else {
                logger.error("copied handle key not readable", metadata: ["bytes": "\(bytes.count)"])
                return
            }
            let current = key.withUnsafeBytes { Array($0) }
            if bytes != current {
                try await stored(table.saveSigningKey(bytes))
                let copied = SymmetricKey(data: bytes)
                keys.withLock { $0 = (copied, HandleSigningKey(copied)) }
                logger.info("handle key copied from the group's leader")
            }
        case .deliver:
            if let write = try await applyCopiedDeliveries(record, link: link) { try await stored(write) }
        case .reset:
            let offsets = Dictionary(
                Self.decodeOffsets(record.body).compactMap { queueId, offsets in offsets.first.map { (queueId, $0) } },
                uniquingKeysWith: { _, last in last })
            let start = offsets.map { CursorRow(group: groupName, topic: topicName, queueId: $0.key, nextOffset: $0.value) }
            guard let consumer = try await copiedConsumer(groupName, topicName, link: link, start: start) else { return }
            try await stored(consumer.reset(to: offsets, nowMs: nowMs()).write)
        }
    }

    /// Applies one `deliver` record to the pair's consumer and returns its queued table write
    /// (nil: nothing changed, or the record names a topic or group not here).
    private func applyCopiedDeliveries(_ record: StoredRecord, link: ConsumerReplication) async throws(BrokerError)
        -> PendingWrite?
    {
        guard let groupName = record.property(ReplicatedProperty.group) else { return nil }
        let topicName = record.property(ReplicatedProperty.topic) ?? ""
        guard let copied = CopiedDeliveries.decode(record.body) else {
            logger.error("copied deliveries not readable", metadata: ["group": "\(groupName)", "topic": "\(topicName)"])
            return nil
        }
        // A pair whose start record was not copied starts at the first offset this names.
        var lowest: [UInt32: UInt64] = [:]
        for position in copied.rows.map({ CopiedDeliveries.Position(queueId: $0.queueId, offset: $0.queueOffset) })
            + copied.cursors
        {
            lowest[position.queueId] = min(lowest[position.queueId] ?? .max, position.offset)
        }
        let start = lowest.map { CursorRow(group: groupName, topic: topicName, queueId: $0.key, nextOffset: $0.value) }
        guard let consumer = try await copiedConsumer(groupName, topicName, link: link, start: start) else { return nil }
        return await consumer.applyCopiedDeliveries(copied, nowMs: nowMs())
    }

    /// The pair's consumer here, made with `start` (over the group's own start position) when
    /// there is none; nil when the topic does not exist here (deleted since).
    private func copiedConsumer(_ groupName: String, _ topicName: String, link: ConsumerReplication, start: [CursorRow])
        async throws(BrokerError) -> TopicConsumer?
    {
        if let existing = existingConsumer(groupName, topicName) { return existing }
        var group = self.group(named: groupName)
        if group == nil {
            // Made before the group replicated its groups: the defaults, like a first use.
            logger.warning("copied consumer change names an unknown group; created with the defaults", metadata: ["group": "\(groupName)"])
            group = try await saveGroupLocally(ConsumerGroup(name: groupName, createdAtMs: nowMs()))
        }
        guard let group else { return nil }
        let groups = state.withLock { $0.groups }
        guard let topic = try await Self.topicDefinition(topicName, topics: link.topics, groups: groups) else {
            logger.warning(
                "copied consumer change names a topic that does not exist here; skipped",
                metadata: ["group": "\(groupName)", "topic": "\(topicName)"])
            return nil
        }
        var cursors = Dictionary(startCursors(group, topic).map { ($0.queueId, $0) }, uniquingKeysWith: { first, _ in first })
        for row in start { cursors[row.queueId] = row }
        return try await createConsumer(group, topic, start: cursors.values.sorted { $0.queueId < $1.queueId })
    }

    static func groupProperties(_ group: ConsumerGroup) -> [(String, String)] {
        [
            (ReplicatedProperty.fifo, group.fifo ? "1" : "0"), (ReplicatedProperty.attempts, "\(group.maxDeliveryAttempts)"),
            (ReplicatedProperty.delays, group.retryDelaysMs.map(String.init).joined(separator: ",")),
            (ReplicatedProperty.created, "\(group.createdAtMs)"), (ReplicatedProperty.from, group.consumeFrom.storedText),
        ]
    }

    static func group(_ name: String, from record: StoredRecord) -> ConsumerGroup? {
        guard let attempts = record.property(ReplicatedProperty.attempts).flatMap(Int.init),
            let created = record.property(ReplicatedProperty.created).flatMap(Int64.init),
            let from = record.property(ReplicatedProperty.from).flatMap(ConsumeFrom.init(storedText:))
        else { return nil }
        let delays = (record.property(ReplicatedProperty.delays) ?? "").split(separator: ",").compactMap { Int64($0) }
        return ConsumerGroup(
            name: name, fifo: record.property(ReplicatedProperty.fifo) == "1", maxDeliveryAttempts: attempts,
            retryDelaysMs: delays, createdAtMs: created, consumeFrom: from)
    }

    /// `queueId:offset,offset;queueId:offset`, the body of ack, subscribe and reset records.
    static func encodeOffsets(_ offsets: [(UInt32, [UInt64])]) -> ByteBuffer {
        ByteBuffer(
            string: offsets.map { queueId, list in "\(queueId):" + list.map(String.init).joined(separator: ",") }
                .joined(separator: ";"))
    }

    static func encodeAcks(_ handles: [ReceiptHandle]) -> ByteBuffer {
        let byQueue = Dictionary(grouping: handles, by: \.queueId)
        return encodeOffsets(byQueue.keys.sorted().map { ($0, byQueue[$0]!.map(\.queueOffset)) })
    }

    static func decodeOffsets(_ body: ByteBuffer) -> [(UInt32, [UInt64])] {
        String(buffer: body).split(separator: ";").compactMap { part in
            let halves = part.split(separator: ":", maxSplits: 1)
            guard halves.count == 2, let queueId = UInt32(halves[0]) else { return nil }
            return (queueId, halves[1].split(separator: ",").compactMap { UInt64($0) })
        }
    }
}

/// One acknowledged message of a consumer record.
struct ReplicatedAck: Sendable {
    var group: String
    var topic: String
    var queueId: UInt32
    var offset: UInt64
}
