import Crypto
import Logging
import Metrics
import NIOCore
import SluiceStorage
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
    private struct State {
        var groups: [String: ConsumerGroup] = [:]
        var consumers: [String: TopicConsumer] = [:]
        /// Per group, how far its dead-letter queue has been re-driven.
        var redriven: [String: UInt64] = [:]
        /// Groups whose dead letters are being re-driven right now.
        var redriving: Set<String> = []
    }

    public let log: CommitLog
    public let waiters: LongPollWaiters
    let table: ConsumptionTable
    /// Signs receipt handles and recall handles (in separate domains).
    let key: SymmetricKey
    /// DELAY messages recalled before their delivery time: no group gets them.
    public let recalls: RecallBook
    private let state: Mutex<State>

    private let autoCreateGroups: Bool
    /// Groups created on first use stop at this many groups in all (`--max-groups`).
    private let maxGroups = Atomic<Int>(.max)
    let nowMs: @Sendable () -> Int64
    private let logger: Logger
    private let listenerToken: Mutex<UInt64?> = Mutex(nil)
    /// Set once a change could not be stored: memory is then ahead of the tables, so every later
    /// receive and settle is refused with it (a restart reloads the tables) rather than risk
    /// handing out or losing messages the tables do not know about.
    private let failure: Mutex<BrokerError?> = Mutex(nil)
    /// Where deliveries, acks, invisibility changes and dead letters are traced (nil: off).
    let trace: MessageTraceRecorder?

    private init(
        log: CommitLog, table: ConsumptionTable, key: SymmetricKey, recalls: RecallBook, state: State,
        autoCreateGroups: Bool, trace: MessageTraceRecorder?, nowMs: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.recalls = recalls
        self.trace = trace
        self.log = log
        self.table = table
        self.key = key
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
        logger: Logger = Logger(label: "sluice.consumers")
    ) async throws(BrokerError) -> ConsumptionEngine {
        let table = try await ConsumptionTable.open(path: path, logger: logger)
        let snapshot: ConsumptionSnapshot
        do {
            snapshot = try await table.load(logStart: log.minOffset)
        } catch {
            await table.close()
            throw error
        }
        var state = State()
        let recalls = RecallBook(snapshot.recalled)
        for group in snapshot.groups { state.groups[group.name] = group }
        for cursor in snapshot.cursors where cursor.group.hasPrefix(Self.redrivePrefix) {
            state.redriven[String(cursor.group.dropFirst(Self.redrivePrefix.count))] = cursor.nextOffset
        }
        let cursorsByPair = Dictionary(grouping: snapshot.cursors) { Self.pairKey($0.group, $0.topic) }
        let pendingByPair = Dictionary(grouping: snapshot.pending) { Self.pairKey($0.group, $0.topic) }
        for pair in Set(cursorsByPair.keys).union(pendingByPair.keys) {
            let sample = cursorsByPair[pair]?.first.map { ($0.group, $0.topic) }
                ?? pendingByPair[pair]!.first.map { ($0.group, $0.topic) }!
            guard let group = state.groups[sample.0],
                let topic = try await Self.topicDefinition(sample.1, topics: topics, groups: state.groups)
            else { continue }
            state.consumers[pair] = TopicConsumer(
                group: group, topic: topic, log: log, table: table, recalls: recalls, restored: pendingByPair[pair] ?? [],
                cursors: cursorsByPair[pair] ?? [])
        }
        logger.info(
            "consumer groups restored",
            metadata: [
                "groups": "\(snapshot.groups.count)", "cursors": "\(snapshot.cursors.count)",
                "pending": "\(snapshot.pending.count)", "recalled": "\(snapshot.recalled.count)",
            ])
        let engine = ConsumptionEngine(
            log: log, table: table, key: SymmetricKey(data: snapshot.signingKey), recalls: recalls, state: state,
            autoCreateGroups: autoCreateGroups, trace: trace, nowMs: nowMs, logger: logger)
        let waiters = engine.waiters
        let token = log.addAppendListener { queues in
            waiters.notifyAppended(topics: Set(queues.map(\.topic)))
        }
        engine.listenerToken.withLock { $0 = token }
        return engine
    }

    /// Stops listening to the log and closes the tables (after queued writes).
    public func close() async {
        if let token = listenerToken.withLock({ $0 }) { log.removeAppendListener(token) }
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

    /// Creates a group, or changes an existing group's settings.
    public func saveGroup(_ group: ConsumerGroup) async throws(BrokerError) -> ConsumerGroup {
        try group.validate()
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
        handle.encoded(key: key, group: group, topic: topic)
    }

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
        try await stored(write)
        if outcome == .done, !messageId.isEmpty {
            trace?.acked(messageId: messageId, group: group, clientId: clientId, attempt: attempt)
        }
        if unblocked { waiters.notify(group: group, topic: topic) }
        try Self.check(outcome, handle: handle, action: "acknowledge")
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

    /// Moves a delivered message to the group's dead-letter queue now (a consumer gave up on it).
    public func forwardToDeadLetter(group: String, topic: String, receiptHandle: String) async throws(BrokerError) {
        try checkHealthy()
        let (handle, consumer) = try resolve(group: group, topic: topic, receiptHandle: receiptHandle)
        let (outcome, candidate) = await consumer.beginDeadLetter(handle)
        try Self.check(outcome, handle: handle, action: "dead-letter")
        guard let candidate, let definition = self.group(named: group) else { return }
        await moveToDeadLetter([candidate], consumer: consumer, group: definition)
    }

    /// Dead-letters every last delivery whose invisibility ran out unacknowledged. Run it
    /// periodically (the broker does, every second).
    public func sweep() async {
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
        try await stored(consumer.reset(queueId: queueId, to: offset, nowMs: nowMs()))
        waiters.notify(group: group.name, topic: topic.name)
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
            for entry in entries {
                cursor = entry.queueOffset + 1
                guard let record = try? log.read(entry, of: queue),
                    let origin = record.property(MessageProperty.deadLetterOrigin).flatMap(Self.parseOrigin),
                    let consumer = existingConsumer(name, origin.topic)
                else { continue }
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
        var changes = ConsumptionChanges()
        changes.resetCursors.append(
            CursorRow(group: Self.redrivePrefix + name, topic: group.deadLetterTopic, queueId: 0, nextOffset: cursor))
        try await table.apply(changes)
        state.withLock { $0.redriven[name] = cursor }
        for topic in touched { waiters.notify(group: name, topic: topic) }
        logger.info("dead letters re-driven", metadata: ["group": "\(name)", "count": "\(count)"])
        return count
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

    private func resolve(group: String, topic: String, receiptHandle: String) throws(BrokerError)
        -> (ReceiptHandle, TopicConsumer)
    {
        let handle = try ReceiptHandle.decode(receiptHandle, key: key, group: group, topic: topic)
        guard let consumer = existingConsumer(group, topic) else {
            throw BrokerError(.invalidReceiptHandle, "group \(group) has received nothing from topic \(topic)")
        }
        return (handle, consumer)
    }

    private static func check(_ outcome: SettleOutcome, handle: ReceiptHandle, action: String) throws(BrokerError) {
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
    private func subscribed(_ group: ConsumerGroup, _ topic: TopicDefinition) async throws(BrokerError) -> TopicConsumer {
        let pair = Self.pairKey(group.name, topic.name)
        let (consumer, write) = state.withLock { state -> (TopicConsumer, PendingWrite?) in
            if let existing = state.consumers[pair] { return (existing, nil) }
            let start = startCursors(group, topic)
            let created = TopicConsumer(
                group: group, topic: topic, log: log, table: table, recalls: recalls, restored: [], cursors: start)
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
    private func startCursors(_ group: ConsumerGroup, _ topic: TopicDefinition) -> [CursorRow] {
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
    private func moveToDeadLetter(_ candidates: [DeadLetterCandidate], consumer: TopicConsumer, group: ConsumerGroup) async {
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

    private static func pairKey(_ group: String, _ topic: String) -> String { group + "\u{0}" + topic }

    private static func deadLetterDefinition(_ group: ConsumerGroup) -> TopicDefinition {
        TopicDefinition(name: group.deadLetterTopic, messageType: .normal, queueCount: 1, createdAtMs: group.createdAtMs)
    }

    private static func topicDefinition(_ name: String, topics: any TopicRegistry, groups: [String: ConsumerGroup])
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
