import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import SluiceStorage
import SluiceTransactions

/// Runs transactions across the two stores: the commit log (the durable truth, where every event
/// is a record) and the SQLite table (the queryable view the checker and operators use).
///
/// Every change is written to the log first and applied to SQLite second. A crash between the two
/// leaves an event the table has not seen; `reconcile()` at start-up replays the event queue from
/// the persisted watermark, and applying an event twice is harmless. Resolutions of one
/// transaction are serialised, and the table's state machine decides before anything is
/// appended, so a commit is appended to its target queue exactly once and never after a rollback.
public final class TransactionCoordinator: Sendable {
    public let log: CommitLog
    public let store: TransactionStateStore
    let logger: Logger
    let nowMs: @Sendable () -> Int64
    let watermark = EventWatermark()
    let serializer = KeyedSerializer()
    let idGenerator = TransactionIDGenerator()
    /// Resolutions appended to the log whose SQLite update failed: answered from here (so a retry
    /// appends nothing) until the table catches up.
    let unappliedResolutions = NIOLockedValueBox<[String: UnappliedResolution]>([:])

    struct UnappliedResolution: Sendable {
        var resolution: TransactionResolution
        var source: ResolutionSource
        var actor: String?
        var reason: String?
        var atMs: Int64
        var token: EventWatermark.Token
    }
    let cachedPin = NIOLockedValueBox<UInt64?>(nil)
    /// The event-queue offset below which every event is in the table, for a follower whose log
    /// grows by copying (`applyCopiedEvents()`); nil until `reconcile()` has run.
    let copiedEventsCursor = NIOLockedValueBox<UInt64?>(nil)
    /// Set by `forgetLogTail(from:)` until the log is cut (`copiedLogTruncated()`): the first
    /// event-queue offset of the tail being cut, which copied-event replays must not reach
    /// (the tail's records stay readable until the cut).
    let pendingCutEventOffset = NIOLockedValueBox<UInt64?>(nil)
    let finishTimer = Metrics.Timer(label: "sluice_transaction_finish_seconds")
    /// The broker's trace recorder (nil when tracing is off). Transactions record nothing in it:
    /// the half, commit-copy and rollback records are their events (`MessageTraceReader`).
    public let trace: MessageTraceRecorder?
    /// Young half messages held back from the table (nil: every half is written at once).
    let deferred: DeferredHalves?
    /// How durable a producer's commit or rollback of a held half must be before it is answered
    /// (docs/transactions.md, "Decisions synced with the next half"). `.deferred` spares one
    /// `fdatasync` per transaction; a replicated group keeps `.policy`.
    let decisionDurability: AppendDurability

    /// - Parameter halfTableDelay: how long a half message may wait in memory for its
    ///   EndTransaction before it is written to the table as prepared (see `DeferredHalves`);
    ///   nil writes every half at once. Whoever sets it must call `flushDeferredHalves()` often
    ///   (`TransactionMaintenanceService` does).
    /// - Parameter decisionDurability: `.deferred` answers a producer's end of a held half once its
    ///   record is written; the next sync makes it durable and readable (`AppendDurability`).
    public init(
        log: CommitLog, store: TransactionStateStore, logger: Logger, nowMs: @escaping @Sendable () -> Int64,
        trace: MessageTraceRecorder? = nil, halfTableDelay: Duration? = nil,
        decisionDurability: AppendDurability = .policy
    ) {
        self.decisionDurability = decisionDurability
        self.log = log
        self.store = store
        self.logger = logger
        self.nowMs = nowMs
        self.trace = trace
        self.deferred = halfTableDelay.map { delay in
            DeferredHalves(delayMs: max(1, delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000))
        }
        let pin = cachedPin
        log.setRetentionPin { pin.withLockedValue { $0 } }
    }

    // MARK: half messages

    /// The longest first-check delay a producer may ask for (RocketMQ's recovery duration).
    public static let maxFirstCheckDelayMs: Int64 = 24 * 3600 * 1000

    /// Stores a half message durably (as durable as the log's flush policy) and records it as
    /// prepared. Invisible to consumers until committed.
    /// - Throws: `BrokerError` `.invalidMessage` (nothing stored), `.storageFailure`.
    public func prepare(_ half: HalfMessage) async throws(BrokerError) -> PreparedHalf {
        if half.message.topic.hasPrefix("RMQ_SYS_") || half.message.topic.hasPrefix("%") {
            throw BrokerError(
                .invalidMessage, "topic \(half.message.topic) is a system topic; transactions cannot target it")
        }
        if half.clientId.isEmpty {
            throw BrokerError(.invalidMessage, "a half message needs the sending client's id (for check-backs)")
        }
        // Checked before the append: the transaction table refuses these too, but only after the
        // half is in the log, which would leave an orphan record behind.
        if let delay = half.firstCheckDelayMs, !(0...Self.maxFirstCheckDelayMs).contains(delay) {
            throw BrokerError(.invalidMessage, "first check delay is \(delay) ms; it must be 0 to 24 h")
        }
        let transactionId = idGenerator.next()
        var record = half.message
        let target = QueueID(topic: record.topic, queueId: record.queueId)
        record.topic = TransactionEvent.queue.topic
        record.queueId = TransactionEvent.queue.queueId
        record.messageType = RecordKind.transaction.rawValue
        record.flags |= RecordFlag.half
        record.properties += [
            (TransactionEvent.Property.event, TransactionEvent.Kind.half.rawValue),
            (TransactionEvent.Property.transactionId, transactionId),
            (TransactionEvent.Property.realTopic, target.topic),
            (TransactionEvent.Property.realQueueId, "\(target.queueId)"),
            (TransactionEvent.Property.producerGroup, half.producerGroup),
            (TransactionEvent.Property.clientId, half.clientId),
        ]
        if let delay = half.firstCheckDelayMs {
            record.properties.append((TransactionEvent.Property.firstCheckDelayMs, "\(delay)"))
        }
        let token = watermark.begin(lowerBound: log.queueBounds(TransactionEvent.queue).next)
        let appended: AppendResult
        do throws(StorageError) {
            appended = try await log.append(record)
        } catch {
            watermark.end(token)
            throw Self.brokerError(error, "store the half message")
        }
        watermark.assign(token, offset: appended.queueOffset)
        let prepared = PreparedTransaction(
            transactionId: transactionId, messageId: appended.messageId, topic: target.topic,
            producerGroup: half.producerGroup, clientId: half.clientId, keys: Self.joinedKeys(half.message.keys),
            tags: half.message.tags.isEmpty ? nil : half.message.tags,
            commitLogOffset: Int64(appended.physicalOffset), commitLogSize: Int64(appended.size),
            createdAtMs: appended.storeTimestampMs, firstCheckDelayMs: half.firstCheckDelayMs)
        if let deferred {
            switch deferred.admit(prepared, halfToken: token, nowMs: appended.storeTimestampMs) {
            case .deferred:
                return PreparedHalf(
                    transactionId: transactionId, messageId: appended.messageId, commitLogOffset: appended.physicalOffset,
                    isNew: true)
            case .duplicate(let original):
                // A retried send of a half still held in memory: the record just appended is an
                // orphan (replaying it after a crash finds the original's row).
                watermark.end(token)
                return PreparedHalf(
                    transactionId: original.prepared.transactionId, messageId: appended.messageId,
                    commitLogOffset: UInt64(original.prepared.commitLogOffset), isNew: false)
            case .insertNow:
                break
            }
        }
        do throws(TransactionStoreError) {
            let result = try await store.recordPrepared(prepared)
            watermark.end(token)
            var offset = appended.physicalOffset
            if case .duplicate(let existing) = result,
                let original = try await store.transaction(id: existing)
            {
                // A retried send: the record just appended is an orphan nobody refers to; the
                // producer keeps talking about the first one.
                offset = UInt64(original.commitLogOffset)
            }
            return PreparedHalf(
                transactionId: result.transactionId, messageId: appended.messageId, commitLogOffset: offset,
                isNew: result == .inserted(transactionId: transactionId))
        } catch {
            // The half record is in the log; start-up reconciliation will insert it. The producer
            // was not acknowledged and may retry (idempotent on client, topic, message id).
            throw BrokerError(.storageFailure, "cannot record the half message: \(error.message)", cause: error)
        }
    }

    // MARK: resolution

    /// Commits or rolls back a transaction. A commit appends the message to its target queue
    /// exactly once; repeating the same resolution is an idempotent success.
    /// - Throws: `BrokerError` `.transactionNotFound`, `.transactionConflict` (the opposite
    ///   resolution was applied), `.storageFailure`.
    public func end(
        transactionId: String, resolution: TransactionResolution, source: ResolutionSource, actor: String?,
        reason: String? = nil
    ) async throws(BrokerError) -> EndOutcome {
        // Checked before anything is appended: a resolution in the log always stands.
        if source == .operator && (actor ?? "").isEmpty {
            throw BrokerError(.invalidMessage, "an operator resolution needs the operator's name")
        }
        do throws(BrokerError) {
            return try await serializer.run(transactionId) { () async throws(BrokerError) -> EndOutcome in
                try await endSerialized(
                    transactionId: transactionId, resolution: resolution, source: source, actor: actor, reason: reason)
            }
        } catch {
            if source == .operator {
                await auditRefusedOperatorResolve(
                    error, transactionId: transactionId, resolution: resolution, actor: actor, reason: reason)
            }
            throw error
        }
    }

    private func endSerialized(
        transactionId: String, resolution: TransactionResolution, source: ResolutionSource, actor: String?,
        reason: String?
    ) async throws(BrokerError) -> EndOutcome {
        if let pending = unappliedResolutions.withLockedValue({ $0[transactionId] }) {
            return try Self.decide(
                current: pending.resolution.resultingState, requested: resolution, source: source, transactionId: transactionId)
                ?? .alreadyResolved
        }
        if let deferred {
            if source == .producer {
                switch await deferred.claim(transactionId) {
                case .claimed(let entry):
                    return try await endDeferred(entry, resolution: resolution, source: source, actor: actor, reason: reason)
                case .unwritten(let row):
                    return try Self.decide(
                        current: row.resolution.resultingState, requested: resolution, source: source,
                        transactionId: transactionId) ?? .alreadyResolved
                case .absent:
                    break
                }
            } else {
                // Checks, operators and the policy work on the table (audit rows, check history):
                // write the half there first.
                if let entry = await deferred.takeForImmediateFlush(transactionId), !(await writePrepared([entry])) {
                    throw BrokerError(.storageFailure, "cannot record transaction \(transactionId) in the table")
                }
                if case .unwritten(let row) = await deferred.claim(transactionId) {
                    return try Self.decide(
                        current: row.resolution.resultingState, requested: resolution, source: source,
                        transactionId: transactionId) ?? .alreadyResolved
                }
            }
        }
        let found: TransactionRecord?
        do throws(TransactionStoreError) {
            found = try await store.transaction(id: transactionId)
        } catch {
            throw BrokerError(.storageFailure, "cannot read transaction \(transactionId): \(error.message)", cause: error)
        }
        guard let record = found else {
            throw BrokerError(.transactionNotFound, "no transaction with id \(transactionId)")
        }
        if let decided = try Self.decide(
            current: record.state, requested: resolution, source: source, transactionId: transactionId)
        {
            return decided
        }

        let event = try await appendResolution(
            transactionId: transactionId, messageId: record.messageId, halfOffset: record.commitLogOffset,
            resolution: resolution, source: source, actor: actor, reason: reason)
        // No trace record: the commit copy or rollback record just appended is the trace event
        // (`MessageTraceReader.storedEvents`).
        do throws(TransactionStoreError) {
            _ = try await store.resolve(
                transactionId: transactionId, resolution: resolution, source: source, actor: actor, reason: reason,
                at: event.storeTimestampMs)
            watermark.end(event.token)
        } catch {
            // The log has the resolution: it stands. Answer retries from memory; the table is
            // brought up to date by `applyUnapplied()` or, after a crash, by `reconcile()`.
            unappliedResolutions.withLockedValue {
                $0[transactionId] = UnappliedResolution(
                    resolution: resolution, source: source, actor: actor, reason: reason,
                    atMs: event.storeTimestampMs, token: event.token)
            }
            logger.error(
                "resolution stored in the log but not yet in the table",
                metadata: ["txn.id": "\(transactionId)", "error": "\(error)"])
        }
        Counter(label: "sluice_transactions_total", dimensions: [("resolution", "\(resolution)"), ("source", "\(source)")])
            .increment()
        finishTimer.recordMilliseconds(max(0, event.storeTimestampMs - record.createdAtMs))
        return .applied
    }

    /// nil when the resolution must be applied; `.alreadyResolved` for a repeat.
    /// - Throws: `.transactionConflict` for the opposite of a final resolution.
    static func decide(
        current: TransactionState, requested: TransactionResolution, source: ResolutionSource, transactionId: String
    ) throws(BrokerError) -> EndOutcome? {
        switch TransactionStateMachine().onResolve(current: current, requested: requested, source: source) {
        case .apply: return nil
        case .alreadyResolved: return .alreadyResolved
        case .refuse(let reason):
            throw BrokerError(.transactionConflict, "transaction \(transactionId): \(reason)")
        }
    }

    struct AppendedEvent {
        var token: EventWatermark.Token
        var storeTimestampMs: Int64
        /// For a commit: the queue and offset consumers read the message at.
        var visibleAt: (queue: QueueID, queueOffset: UInt64)?
    }

    /// Appends the commit (the message, into its target queue) or rollback event to the log.
    func appendResolution(
        transactionId: String, messageId: String, halfOffset: Int64, resolution: TransactionResolution,
        source: ResolutionSource, actor: String?, reason: String?, durability: AppendDurability = .policy
    ) async throws(BrokerError) -> AppendedEvent {
        var properties: [(String, String)] = [
            (TransactionEvent.Property.event, resolution == .commit ? TransactionEvent.Kind.commit.rawValue : TransactionEvent.Kind.rollback.rawValue),
            (TransactionEvent.Property.transactionId, transactionId),
            (TransactionEvent.Property.halfOffset, "\(halfOffset)"),
            (TransactionEvent.Property.source, "\(source)"),
        ]
        if let actor { properties.append((TransactionEvent.Property.actor, actor)) }
        if let reason { properties.append((TransactionEvent.Property.reason, reason)) }

        let record: MessageRecord
        if resolution == .commit {
            let half: StoredRecord
            do throws(StorageError) {
                half = try log.read(at: UInt64(halfOffset))
            } catch {
                throw Self.brokerError(error, "read the half message of transaction \(transactionId)")
            }
            // The row names its half by offset; a log cut and rewritten by another leader can
            // hold a different record there. Copying that one would commit someone else's
            // message a second time: refuse instead.
            guard Self.isHalf(half, of: transactionId) else {
                throw BrokerError(
                    .storageFailure,
                    "the record at offset \(halfOffset) is not the half message of transaction \(transactionId) (the log was cut and rewritten there)")
            }
            guard let topic = half.property(TransactionEvent.Property.realTopic),
                let queueId = half.property(TransactionEvent.Property.realQueueId).flatMap(UInt32.init)
            else {
                throw BrokerError(.storageFailure, "half message of \(transactionId) has no target queue")
            }
            var visible = half.message
            visible.topic = topic
            visible.queueId = queueId
            visible.flags = (visible.flags & ~RecordFlag.half) | RecordFlag.committed
            visible.properties = half.userProperties + properties
            visible.secondaryQueue = TransactionEvent.queue
            record = visible
        } else {
            record = MessageRecord(
                topic: TransactionEvent.queue.topic, queueId: TransactionEvent.queue.queueId,
                messageId: messageId, properties: properties, body: ByteBuffer(),
                bornTimestampMs: nowMs(), messageType: RecordKind.transactionRollback.rawValue)
        }
        let token = watermark.begin(lowerBound: log.queueBounds(TransactionEvent.queue).next)
        do throws(StorageError) {
            let appended = try await log.append(record, durability: durability)
            watermark.assign(token, offset: appended.secondaryQueueOffset ?? appended.queueOffset)
            let visibleAt = resolution == .commit
                ? (queue: QueueID(topic: record.topic, queueId: record.queueId), queueOffset: appended.queueOffset) : nil
            return AppendedEvent(token: token, storeTimestampMs: appended.storeTimestampMs, visibleAt: visibleAt)
        } catch {
            watermark.end(token)
            throw Self.brokerError(error, "store the \(resolution) of transaction \(transactionId)")
        }
    }

    /// Whether an end, answered check or operator resolution of `transactionId` is running (or
    /// waiting its turn) now.
    public func isBeingResolved(_ transactionId: String) -> Bool {
        serializer.isBusy(transactionId)
    }

    /// Whether `record` is the half message of `transactionId`.
    public static func isHalf(_ record: StoredRecord, of transactionId: String) -> Bool {
        record.property(TransactionEvent.Property.event) == TransactionEvent.Kind.half.rawValue
            && record.property(TransactionEvent.Property.transactionId) == transactionId
    }

    static func brokerError(_ error: StorageError, _ action: String) -> BrokerError {
        let code: BrokerError.Code =
            (error.code == .invalidArgument || error.code == .recordTooLarge) ? .invalidMessage : .storageFailure
        return BrokerError(code, "cannot \(action): \(error.message)", cause: error)
    }

    static func joinedKeys(_ keys: [String]) -> String? { keys.isEmpty ? nil : keys.joined(separator: " ") }
}
