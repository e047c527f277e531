import Crypto
import Logging
import Metrics
import NIOCore
import SluiceStorage
import SluiceTransactions
import Synchronization

/// Consumer groups and everything they hold: which messages each group has taken, acknowledged,
/// retries and dead-letters, durable in the consumer tables (migration 0004) and served from
/// memory.
///
/// A receive claims messages in memory (one `TopicConsumer` per group and topic), writes the claim
/// to SQLite (group-committed with concurrent writes) and only then hands the messages out; an ack
/// is written before it is confirmed. So after any crash a group resumes where its confirmed acks
/// left it: acknowledged messages stay acknowledged, everything else is delivered again.
public final class ConsumptionEngine: Sendable {
    struct State {
        var groups: [String: ConsumerGroup] = [:]
        var consumers: [String: TopicConsumer] = [:]
        /// Per group, how far its dead-letter queue has been re-driven.
        var redriven: [String: UInt64] = [:]
        /// Groups whose dead letters are being re-driven right now.
        var redriving: Set<String> = []
        /// Replicated groups: the consumer-queue offset below which every copied record is
        /// applied here (stored as a cursor row of `replicationCursorGroup`); nil: from its start.
        var replicatedCursor: UInt64?
        /// Between `forgetLogTail(from:)` and `copiedLogTruncated()`: the first consumer-queue
        /// offset of the tail being cut (replays stop before it) and what its records changed.
        var replicationCut: CutTail?
        /// Whether this leadership has recorded its handle key for the followers yet.
        var keyRecorded = false
    }

    public let log: CommitLog
    public let waiters: LongPollWaiters
    let table: ConsumptionTable
    /// Where a replicated group's consumers record their deliveries for the followers.
    let journal: DeliveryJournal
    /// Signs receipt handles and recall handles (in separate domains), with HMAC's schedule done
    /// once for the receipt handles of every delivery and ack. In a replicated group the leader's
    /// key, copied to the followers (`.signingKey` records), so recall handles outlive a fail-over.
    let keys: Mutex<(raw: SymmetricKey, handle: HandleSigningKey)>
    var key: SymmetricKey { keys.withLock { $0.raw } }
    var handleKey: HandleSigningKey { keys.withLock { $0.handle } }
    /// DELAY messages recalled before their delivery time: no group gets them.
    public let recalls: RecallBook
    let state: Mutex<State>

    private let autoCreateGroups: Bool
    /// Groups created on first use stop at this many groups in all (`--max-groups`).
    private let maxGroups = Atomic<Int>(.max)
    let nowMs: @Sendable () -> Int64
    let logger: Logger
    private let listenerToken: Mutex<UInt64?> = Mutex(nil)
    private let consumableListenerToken: Mutex<UInt64?> = Mutex(nil)
    /// Set once a change could not be stored: memory is then ahead of the tables, so every later
    /// receive and settle is refused with it (a restart reloads the tables) rather than risk
    /// handing out or losing messages the tables do not know about.
    let failure: Mutex<BrokerError?> = Mutex(nil)
    /// Where deliveries, acks, invisibility changes and dead letters are traced (nil: off).
    let trace: MessageTraceRecorder?
    /// Non-nil in a replicated broker group (`replicate(leader:topics:)`): group changes,
    /// subscriptions, acks and resets are records in the consumer queue before they are answered
    /// (ConsumptionEngine+Replication.swift).
    let replication = Mutex<ConsumerReplication?>(nil)
    /// Keys: "subscribe <pair>" (one start record per group–topic pair) and "apply".
    let replicationSerializer = KeyedSerializer()

    private init(
        log: CommitLog, table: ConsumptionTable, journal: DeliveryJournal, key: SymmetricKey, recalls: RecallBook, state: State,
        autoCreateGroups: Bool, trace: MessageTraceRecorder?, nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.recalls = recalls
        self.trace = trace
        self.log = log
        self.table = table
        self.journal = journal
        keys = Mutex((key, HandleSigningKey(key)))
        self.state = Mutex(state)
        self.autoCreateGroups = autoCreateGroups
        self.nowMs = nowMs
        self.logger = logger
        self.waiters = LongPollWaiters()
    }

    /// Opens the consumer tables (already migrated) next to the transaction table and restores
    /// every group's cursors and unfinished messages. Rows of topics that no longer exist are
    /// left alone (and unused).
    public static func open(
        path: String, log: CommitLog, topics: any TopicRegistry, autoCreateGroups: Bool = true,
        trace: MessageTraceRecorder? = nil, nowMs: @escaping @Sendable () -> Int64 = { WallClock.nowMs() },
        logger: Logger = Logger(label: "sluice.consumers"), sharing: SQLiteExecutor? = nil
    ) async throws(BrokerError) -> ConsumptionEngine {
        let table = try await ConsumptionTable.open(path: path, logger: logger, sharing: sharing)
        let snapshot: ConsumptionSnapshot
        do {
            snapshot = try await table.load(logStart: log.minOffset)
        } catch {
            await table.close()
            throw error
        }
        var state = State()
        let recalls = RecallBook(snapshot.recalled)
        let journal = DeliveryJournal(log: log, logger: logger)
        for group in snapshot.groups { state.groups[group.name] = group }
        for cursor in snapshot.cursors where cursor.group.hasPrefix(Self.redrivePrefix) {
            state.redriven[String(cursor.group.dropFirst(Self.redrivePrefix.count))] = cursor.nextOffset
        }
        state.replicatedCursor = snapshot.cursors.first { $0.group == Self.replicationCursorGroup }?.nextOffset
        let cursorsByPair = Dictionary(grouping: snapshot.cursors) { Self.pairKey($0.group, $0.topic) }
        let pendingByPair = Dictionary(grouping: snapshot.pending) { Self.pairKey($0.group, $0.topic) }
        for pair in Set(cursorsByPair.keys).union(pendingByPair.keys) {
            let sample = cursorsByPair[pair]?.first.map { ($0.group, $0.topic) }
                ?? pendingByPair[pair]!.first.map { ($0.group, $0.topic) }!
            guard let group = state.groups[sample.0],
                let topic = try await Self.topicDefinition(sample.1, topics: topics, groups: state.groups)
            else { continue }
            state.consumers[pair] = TopicConsumer(
                group: group, topic: topic, log: log, table: table, journal: journal, recalls: recalls,
                restored: pendingByPair[pair] ?? [], cursors: cursorsByPair[pair] ?? [])
        }
        logger.info(
            "consumer groups restored",
            metadata: [
                "groups": "\(snapshot.groups.count)", "cursors": "\(snapshot.cursors.count)",
                "pending": "\(snapshot.pending.count)", "recalled": "\(snapshot.recalled.count)",
            ])
        let engine = ConsumptionEngine(
            log: log, table: table, journal: journal, key: SymmetricKey(data: snapshot.signingKey), recalls: recalls,
            state: state, autoCreateGroups: autoCreateGroups, trace: trace, nowMs: nowMs, logger: logger)
        let waiters = engine.waiters
        let token = log.addAppendListener { queues in
            waiters.notifyAppended(topics: Set(queues.map(\.topic)))
        }
        // Under a replicated group's read limit, records become readable later than appended.
        let consumableToken = log.addConsumableListener { queues in
            waiters.notifyAppended(topics: Set(queues.map(\.topic)))
        }
        engine.listenerToken.withLock { $0 = token }
        engine.consumableListenerToken.withLock { $0 = consumableToken }
        return engine
    }

    /// Stops listening to the log and closes the tables (after queued writes).
    public func close() async {
        if let token = listenerToken.withLock({ $0 }) { log.removeAppendListener(token) }
        if let token = consumableListenerToken.withLock({ $0 }) { log.removeConsumableListener(token) }
        await table.close()
    }

    // MARK: groups

    /// Sets how many groups may exist before first-use creation is refused (`--max-groups`);
    /// groups an operator creates are not refused.
    public func setMaxGroups(_ limit: Int) { maxGroups.store(max(1, limit), ordering: .relaxed) }

    public func groups() -> [ConsumerGroup] {
        state.withLock { Array($0.groups.values) }.sorted { $0.name < $1.name }
    }

    public func group(named name: String) -> ConsumerGroup? {
        state.withLock { $0.groups[name] }
    }

    /// Creates a group, or changes an existing group's settings. In a replicated group the change
    /// is a record in the consumer queue first (refused on a follower).
    public func saveGroup(_ group: ConsumerGroup) async throws(BrokerError) -> ConsumerGroup {
        try group.validate()
        var stored = group
        if let existing = self.group(named: group.name) { stored.createdAtMs = existing.createdAtMs }
        try await appendReplicated(.saveGroup, group: stored.name, properties: Self.groupProperties(stored))
        return try await saveGroupLocally(stored)
    }

    /// Stores a group (created or changed) here and hands the new settings to its consumers.
    func saveGroupLocally(_ group: ConsumerGroup) async throws(BrokerError) -> ConsumerGroup {
        var stored = group
        if let existing = self.group(named: group.name) { stored.createdAtMs = existing.createdAtMs }
        try await table.save(stored)
        let consumers = state.withLock { state -> [TopicConsumer] in
            state.groups[stored.name] = stored
            return state.consumers.filter { $0.key.hasPrefix(stored.name + "\u{0}") }.map(\.value)
        }
        for consumer in consumers { await consumer.update(group: stored) }
        return stored
    }

    /// Deletes a group with its progress; returns false when there was none.
    public func deleteGroup(named name: String) async throws(BrokerError) -> Bool {
        guard group(named: name) != nil else { return false }
        try await appendReplicated(.deleteGroup, group: name)
        return try await deleteGroupLocally(named: name)
    }

    /// Deletes a group with its progress here; false when there was none.
    func deleteGroupLocally(named name: String) async throws(BrokerError) -> Bool {
        guard group(named: name) != nil else { return false }
        try await table.delete(group: name)
        state.withLock { state in
            state.groups[name] = nil
            state.redriven[name] = nil
            state.consumers = state.consumers.filter { !$0.key.hasPrefix(name + "\u{0}") }
        }
        return true
    }

    /// The group a consumer names, created with the defaults on first use when the broker allows.
    ///
    /// - Throws: `.invalidArgument` for a bad name, `.groupNotFound` when auto-creation is off.
    public func groupForConsumer(_ name: String) async throws(BrokerError) -> ConsumerGroup {
        if let group = group(named: name) { return group }
        try ConsumerGroup.validateName(name)
        guard autoCreateGroups else {
            throw BrokerError(.groupNotFound, "consumer group \(name) does not exist; create it with `sluice group create \(name)`")
        }
        let limit = maxGroups.load(ordering: .relaxed)
        let count = state.withLock { $0.groups.count }
        if count >= limit {
            throw BrokerError(
                .limitExceeded,
                "consumer group \(name) cannot be created on first use: the broker has \(count) groups, the "
                    + "--max-groups limit of \(limit); create it with `sluice group create \(name)` or raise the limit")
        }
        logger.info("consumer group created on first use", metadata: ["group": "\(name)"])
        return try await saveGroup(ConsumerGroup(name: name, createdAtMs: nowMs()))
    }

    /// A group's dead-letter topic as a readable topic (one queue), or nil when the name is not
    /// one or the group does not exist.
    public func deadLetterTopic(named name: String) -> TopicDefinition? {
        guard let groupName = ConsumerGroup.groupOfDeadLetterTopic(name), let group = group(named: groupName) else {
            return nil
        }
        return Self.deadLetterDefinition(group)
    }

    // MARK: receive and settle

    /// Claims up to `batch` messages of `topic` for a consumer of `group`; empty when nothing is
    /// available now (the caller long-polls with `waiters` and `nextDueMs`).
    public func receive(
        group: ConsumerGroup, topic: TopicDefinition, batch: Int, invisibleMs: Int64, filter: TagFilter,
        clientId: String, firstQueue: UInt32, autoRenew: Bool = false
    ) async throws(BrokerError) -> [Delivery] {
        try checkHealthy()
        try refuseDeliveryOnFollower()
        try Self.checkTerms(batch: batch, invisibleMs: invisibleMs)
        let consumer = try await subscribed(group, topic)
        let now = nowMs()
        let claimed = await consumer.claim(
            batch: batch, invisibleMs: invisibleMs, filter: filter, clientId: clientId, firstQueue: firstQueue, nowMs: now,
            autoRenew: autoRenew)
        try await stored(claimed.write)
        if !claimed.deadLetters.isEmpty { await moveToDeadLetter(claimed.deadLetters, consumer: consumer, group: group) }
        for delivery in claimed.deliveries {
            trace?.delivered(messageId: delivery.record.messageId, group: group.name, clientId: clientId, attempt: delivery.attempt)
        }
        if !claimed.deliveries.isEmpty {
            Counter(label: "sluice_messages_out_total", dimensions: [("topic", topic.name), ("group", group.name)])
                .increment(by: claimed.deliveries.count)
        }
        return claimed.deliveries
    }

    /// The most a receive may claim and the longest invisible time the engine takes: the
    /// protocol checks its own (smaller) limits first; these keep `nowMs + invisibleMs` and the
    /// batch arithmetic safe for any caller.
    public static let maxBatch = 1024
    public static let maxInvisibleMs: Int64 = 7 * 24 * 3600 * 1000

    static func checkTerms(batch: Int, invisibleMs: Int64) throws(BrokerError) {
        guard (1...maxBatch).contains(batch) else {
            throw BrokerError(.invalidArgument, "batch is \(batch); it must be 1 to \(maxBatch)")
        }
        guard (0...maxInvisibleMs).contains(invisibleMs) else {
            throw BrokerError(.invalidArgument, "invisible time is \(invisibleMs) ms; it must be 0 to 7 days")
        }
    }

    /// When the group's next retry or scheduled message in `topic` is due, if any.
    public func nextDueMs(group: String, topic: String) async -> Int64? {
        guard let consumer = existingConsumer(group, topic) else { return nil }
        return await consumer.nextDueMs
    }

    /// The text form of a receipt handle for `group` and `topic`.
    public func encode(_ handle: ReceiptHandle, group: String, topic: String) -> String {
        handle.encoded(key: handleKey, group: group, topic: topic)
    }

    /// One entry of a batch ack: the message id (for the trace) and its receipt handle.
    public struct AckEntry: Sendable {
        public var messageId: String
        public var receiptHandle: String

        public init(messageId: String, receiptHandle: String) {
            self.messageId = messageId
            self.receiptHandle = receiptHandle
        }
    }

    /// Dead-letters every last delivery whose invisibility ran out unacknowledged. Run it
    /// periodically (the broker does, every second).
    public func sweep() async {
        // A follower's deliveries are the leader's, copied: the leader dead-letters them.
        if isFollowing { return }
        let consumers = state.withLock { state in
            state.consumers.values.compactMap { consumer in state.groups[consumer.groupName].map { (consumer, $0) } }
        }
        let now = nowMs()
        for (consumer, group) in consumers {
            let expired = await consumer.expiredFinalDeliveries(nowMs: now, limit: 256)
            if !expired.isEmpty { await moveToDeadLetter(expired, consumer: consumer, group: group) }
        }
    }

    /// Renews auto-renewed deliveries (push consumers) that end within `withinMs` and whose client
    /// `isAlive`, by `extendMs`. Run it periodically (the broker does, every 5 seconds).
    public func renewAutoRenewed(
        isAlive: @Sendable (String) -> Bool, withinMs: Int64 = 20_000, extendMs: Int64 = 60_000
    ) async {
        if isFollowing { return }
        let consumers = state.withLock { Array($0.consumers.values) }
        let now = nowMs()
        for consumer in consumers {
            do throws(BrokerError) {
                try await stored(
                    consumer.renewAutoRenewed(isAlive: isAlive, nowMs: now, withinMs: withinMs, extendMs: extendMs))
            } catch {
                logger.warning("cannot store renewed invisibility", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The group's standing in every queue of every topic it has read, with its dead-letter count.
    public func backlog(group name: String) async -> GroupBacklog? {
        guard let group = group(named: name) else { return nil }
        let consumers = state.withLock { state in
            state.consumers.filter { $0.key.hasPrefix(name + "\u{0}") }.map(\.value)
        }
        var queues: [QueueBacklog] = []
        let now = nowMs()
        for consumer in consumers { queues += await consumer.backlog(nowMs: now) }
        queues.sort { ($0.topic, $0.queueId) < ($1.topic, $1.queueId) }
        let dlq = log.queueBounds(QueueID(topic: group.deadLetterTopic, queueId: 0))
        let redriven = state.withLock { $0.redriven[name] } ?? 0
        return GroupBacklog(group: group, queues: queues, deadLettered: Int(dlq.next - max(dlq.min, min(redriven, dlq.next))))
    }

    // MARK: helpers

    /// Waits for a queued change; a failure latches the engine (see `failure`).
    func stored(_ write: PendingWrite) async throws(BrokerError) {
        do throws(BrokerError) {
            try await write.wait()
        } catch {
            let latched = BrokerError(
                .storageFailure,
                "consumer progress could not be stored (\(error.message)); receives and acks are refused until the broker "
                    + "restarts with the tables writable", cause: error)
            failure.withLock { if $0 == nil { $0 = latched } }
            logger.critical("consumption stopped: a change could not be stored", metadata: ["error": "\(error)"])
            throw latched
        }
    }

    /// Throws the latched failure, if any.
    func checkHealthy() throws(BrokerError) {
        if let latched = failure.withLock({ $0 }) { throw latched }
    }

    /// Cursor rows of this prefix record how far a group's dead letters were re-driven.
    static let redrivePrefix = "%redrive%"

    /// `topic#queue@offset`, as `SLUICE_DLQ_ORIGIN` spells it.
    static func parseOrigin(_ text: String) -> (topic: String, queueId: UInt32, offset: UInt64)? {
        guard let hash = text.lastIndex(of: "#"), let at = text.lastIndex(of: "@"), hash < at,
            let queueId = UInt32(text[text.index(after: hash)..<at]), let offset = UInt64(text[text.index(after: at)...])
        else { return nil }
        return (String(text[..<hash]), queueId, offset)
    }

    func resolve(group: String, topic: String, receiptHandle: String) throws(BrokerError)
        -> (ReceiptHandle, TopicConsumer)
    {
        let handle = try ReceiptHandle.decode(receiptHandle, key: handleKey, group: group, topic: topic)
        guard let consumer = existingConsumer(group, topic) else {
            throw BrokerError(.invalidReceiptHandle, "group \(group) has received nothing from topic \(topic)")
        }
        return (handle, consumer)
    }

    static func check(_ outcome: SettleOutcome, handle: ReceiptHandle, action: String) throws(BrokerError) {
        switch outcome {
        case .done, .alreadyFinished:
            return
        case .stale:
            throw BrokerError(
                .staleReceiptHandle,
                "cannot \(action) the message at queue \(handle.queueId) offset \(handle.queueOffset) with this receipt "
                    + "handle: the message was delivered again (or its invisible time changed) since; use the newest handle")
        case .unknown:
            throw BrokerError(
                .invalidReceiptHandle,
                "no delivery of the message at queue \(handle.queueId) offset \(handle.queueOffset) to this group")
        }
    }

    /// The group's consumer of `topic`, made on the group's first subscription with its start
    /// position (`ConsumerGroup.consumeFrom`) fixed and stored before it is used.
    ///
    /// The start cursors are queued inside the lock that publishes the consumer, so every later
    /// claim of the pair is queued (and commits) after them: no delivery can be confirmed to a
    /// client before the start position is durable.
    ///
    /// In a replicated group the start cursors are a record in the consumer queue before the
    /// consumer is published (one record per pair: first subscriptions of a pair wait in turn).
    func subscribed(_ group: ConsumerGroup, _ topic: TopicDefinition) async throws(BrokerError) -> TopicConsumer {
        if let existing = existingConsumer(group.name, topic.name) { return existing }
        guard isReplicated else { return try await createConsumer(group, topic, start: nil) }
        let pair = Self.pairKey(group.name, topic.name)
        return try await replicationSerializer.run("subscribe " + pair) { () async throws(BrokerError) -> TopicConsumer in
            if let existing = existingConsumer(group.name, topic.name) { return existing }
            let start = startCursors(group, topic)
            try await appendReplicated(
                .subscribe, group: group.name, topic: topic.name,
                body: Self.encodeOffsets(start.map { ($0.queueId, [$0.nextOffset]) }))
            return try await createConsumer(group, topic, start: start)
        }
    }

    /// Publishes the pair's consumer with `start` (nil: by the group's `consumeFrom` now) and
    /// stores its start cursors before returning; an existing consumer is returned as it is.
    func createConsumer(_ group: ConsumerGroup, _ topic: TopicDefinition, start given: [CursorRow]?) async throws(BrokerError)
        -> TopicConsumer
    {
        let pair = Self.pairKey(group.name, topic.name)
        let (consumer, write) = state.withLock { state -> (TopicConsumer, PendingWrite?) in
            if let existing = state.consumers[pair] { return (existing, nil) }
            let start = given ?? startCursors(group, topic)
            let created = TopicConsumer(
                group: group, topic: topic, log: log, table: table, journal: journal, recalls: recalls, restored: [],
                cursors: start)
            state.consumers[pair] = created
            var changes = ConsumptionChanges()
            changes.resetCursors = start
            return (created, start.isEmpty ? nil : table.enqueue(changes))
        }
        if let write {
            try await stored(write)
            logger.info(
                "consumer group subscribed",
                metadata: ["group": "\(group.name)", "topic": "\(topic.name)", "from": "\(group.consumeFrom.storedText)"])
        }
        return consumer
    }

    /// Where a group starts in each queue of a topic it has never read: none for `earliest` (a
    /// queue without a cursor is read from its oldest message), the queue's end for `latest`, the
    /// first message stored at or after the time for `timestamp`.
    func startCursors(_ group: ConsumerGroup, _ topic: TopicDefinition) -> [CursorRow] {
        (0..<UInt32(max(1, topic.queueCount))).compactMap { queueId in
            let queue = QueueID(topic: topic.name, queueId: queueId)
            let bounds = log.queueBounds(queue)
            let offset: UInt64
            switch group.consumeFrom {
            case .earliest: return nil
            case .latest: offset = bounds.next
            case .timestamp(let ms): offset = min(max(log.queueOffset(queue, atOrAfterTimestampMs: ms), bounds.min), bounds.next)
            }
            return CursorRow(group: group.name, topic: topic.name, queueId: queueId, nextOffset: offset)
        }
    }

    /// Every group's consumer of `topic`.
    func consumers(ofTopic topic: String) -> [TopicConsumer] {
        state.withLock { state in state.consumers.values.filter { $0.topic == topic } }
    }

    func existingConsumer(_ group: String, _ topic: String) -> TopicConsumer? {
        state.withLock { $0.consumers[Self.pairKey(group, topic)] }
    }

    /// Copies each candidate to the group's dead-letter queue (once, even across a crash between
    /// the copy and the bookkeeping: an existing copy from the same origin is found by message id),
    /// then finishes it for the group.
    func moveToDeadLetter(_ candidates: [DeadLetterCandidate], consumer: TopicConsumer, group: ConsumerGroup) async {
        let dlqTopic = group.deadLetterTopic
        for candidate in candidates {
            let origin = "\(consumer.topic)#\(candidate.queueId)@\(candidate.queueOffset)"
            do throws(BrokerError) {
                let record = await consumer.record(of: candidate)
                // A group reading its own dead-letter topic: a copy would land where it is read
                // from, again and again. The message stays there; the group just moves on.
                if let record, consumer.topic != dlqTopic {
                    let alreadyCopied = log.lookup(messageId: record.messageId).contains {
                        $0.topic == dlqTopic && $0.property(MessageProperty.deadLetterOrigin) == origin
                    }
                    if !alreadyCopied {
                        var properties = record.message.properties.filter { $0.0 != MessageProperty.deadLetterOrigin }
                        properties.append((MessageProperty.deadLetterOrigin, origin))
                        properties.append((MessageProperty.originalTopic, consumer.topic))
                        properties.append((MessageProperty.deliveryAttempts, "\(candidate.attempt)"))
                        let copy = MessageRecord(
                            topic: dlqTopic, queueId: 0, messageId: record.messageId, tags: record.message.tags,
                            keys: record.message.keys, properties: properties, body: record.message.body,
                            bornTimestampMs: record.message.bornTimestampMs, messageType: RecordKind.normal.rawValue)
                        do throws(StorageError) {
                            _ = try await log.append(copy)
                        } catch {
                            throw BrokerError(.storageFailure, "cannot store the dead-letter copy: \(error.message)", cause: error)
                        }
                    }
                }
                // Finished for the group everywhere: the followers learn it like an ack.
                try await appendReplicated(
                    .ack, group: group.name, topic: consumer.topic,
                    body: Self.encodeOffsets([(candidate.queueId, [candidate.queueOffset])]))
                let (write, unblocked) = await consumer.finishDeadLetter(candidate, nowMs: nowMs())
                try await stored(write)
                if unblocked { waiters.notify(group: group.name, topic: consumer.topic) }
                if let record {
                    trace?.deadLettered(
                        messageId: record.messageId, group: group.name, dlqTopic: dlqTopic, attempts: candidate.attempt)
                }
                Counter(label: "sluice_dead_letters_total", dimensions: [("topic", consumer.topic), ("group", group.name)])
                    .increment()
                logger.info(
                    "message dead-lettered",
                    metadata: ["group": "\(group.name)", "origin": "\(origin)", "attempts": "\(candidate.attempt)"])
            } catch {
                logger.warning("dead-lettering failed; will retry", metadata: ["origin": "\(origin)", "error": "\(error)"])
                await consumer.abortDeadLetter(candidate, retryAtMs: nowMs() + 5000)
            }
        }
    }

    static func pairKey(_ group: String, _ topic: String) -> String { group + "\u{0}" + topic }

    /// A group's dead-letter topic: one queue of NORMAL messages.
    public static func deadLetterDefinition(_ group: ConsumerGroup) -> TopicDefinition {
        TopicDefinition(name: group.deadLetterTopic, messageType: .normal, queueCount: 1, createdAtMs: group.createdAtMs)
    }

    static func topicDefinition(_ name: String, topics: any TopicRegistry, groups: [String: ConsumerGroup])
        async throws(BrokerError) -> TopicDefinition?
    {
        if let groupName = ConsumerGroup.groupOfDeadLetterTopic(name) {
            return groups[groupName].map(deadLetterDefinition)
        }
        return try await topics.topic(named: name)
    }
}

/// A group with its standing in every queue it reads.
public struct GroupBacklog: Sendable, Codable {
    public var group: ConsumerGroup
    public var queues: [QueueBacklog]
    /// Messages in the group's dead-letter queue.
    public var deadLettered: Int

    public var waiting: Int { queues.reduce(0) { $0 + $1.waiting } }
    public var inFlight: Int { queues.reduce(0) { $0 + $1.inFlight } }
    public var retrying: Int { queues.reduce(0) { $0 + $1.retrying } }
    public var scheduled: Int { queues.reduce(0) { $0 + $1.scheduled } }
}
