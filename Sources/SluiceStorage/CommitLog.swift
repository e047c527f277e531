import CSluiceShims
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// The broker's core log: append-only, segmented, checksummed, with per-queue indexes and a key
/// index. Appends from any task are group-committed by one writer thread; reads copy out of the
/// segments' shared mappings.
///
/// Open with `CommitLog.open(_:logger:)`, which recovers the folder first, and close with
/// `close()`, which drains appends, syncs and writes a final checkpoint.
public final class CommitLog: Sendable {
    public let configuration: CommitLogConfiguration
    public let recoveryReport: RecoveryReport
    let shared: LogShared
    let writer: LogWriter
    private let lock: DataDirectoryLock
    private let logger: Logger
    private let allocator = ByteBufferAllocator()
    private let idGenerator = MessageIDGenerator()
    private let appendTimer = Metrics.Timer(label: "sluice_append_seconds")
    private let closed = NIOLockedValueBox(false)
    private let scrub: Scrubber
    /// Replication's sync acknowledgement (`setAcknowledgementGate`); nil: an append is done once local.
    let acknowledgementGate = NIOLockedValueBox<(any AppendAcknowledgementGate)?>(nil)
    /// See `setConsumerReadLimit(_:)`; nil: consumers read to the end.
    let consumerReadLimit = NIOLockedValueBox<ConsumerReadLimit?>(nil)
    let consumable = ConsumableNotifier()

    private init(
        configuration: CommitLogConfiguration, recovery: Recovery.Result, lock: DataDirectoryLock, logger: Logger
    ) {
        self.configuration = configuration
        self.recoveryReport = recovery.report
        self.shared = recovery.shared
        self.lock = lock
        self.logger = logger
        self.writer = LogWriter(
            configuration: configuration, shared: recovery.shared, writePosition: recovery.writePosition,
            activeSegment: recovery.activeSegment, logger: logger)
        self.scrub = Scrubber(shared: recovery.shared, until: recovery.report.verifiedFromOffset, logger: logger)
    }

    /// Locks the data folder, recovers it and starts the writer thread. Blocks for the length of
    /// recovery: call it from a thread of your own (or use `open(_:logger:) async`).
    /// - Throws: `.dataDirectoryLocked` when another process has the folder; `.io`/`.diskFull` when
    ///   the folder cannot be read or written.
    public static func openBlocking(_ configuration: CommitLogConfiguration, logger: Logger) throws(StorageError) -> CommitLog {
        if configuration.segmentSizeBytes < 4096 {
            throw StorageError(.invalidArgument, "segment size \(configuration.segmentSizeBytes) bytes; minimum 4096")
        }
        let lock = try DataDirectoryLock.acquire(configuration.directory)
        do {
            let recovery = try Recovery(configuration: configuration, logger: logger).run()
            let log = CommitLog(configuration: configuration, recovery: recovery, lock: lock, logger: logger)
            log.writer.start()
            log.scrub.start()
            logger.info(
                "commit log open",
                metadata: [
                    "directory": "\(configuration.directory)", "end": "\(recovery.writePosition)",
                    "recovery.verified.records": "\(recovery.report.recordsVerified)",
                    "recovery.duration": "\(recovery.report.duration)", "flush": "\(configuration.flush)",
                ])
            return log
        } catch {
            lock.release()
            throw error
        }
    }

    /// Opens the log on a thread of its own so recovery's file I/O stays off the cooperative pool.
    public static func open(_ configuration: CommitLogConfiguration, logger: Logger) async throws(StorageError) -> CommitLog {
        let result: Result<CommitLog, StorageError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                _ = sluice_set_current_thread_name("sluice-recovery")
                do throws(StorageError) {
                    continuation.resume(returning: .success(try openBlocking(configuration, logger: logger)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.start()
        }
        return try result.get()
    }

    /// Drains queued appends, syncs, checkpoints, and releases the data folder. Idempotent.
    public func close() async {
        let first = closed.withLockedValue { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                stopOnThisThread()
                continuation.resume()
            }
            thread.start()
        }
        logger.info("commit log closed", metadata: ["directory": "\(configuration.directory)"])
    }

    /// `close()` for a caller already on a thread of its own (the fuzz harness): blocks it.
    func closeBlocking() {
        let first = closed.withLockedValue { closed in
            defer { closed = true }
            return !closed
        }
        if first { stopOnThisThread() }
    }

    private func stopOnThisThread() {
        scrub.stop()
        writer.stop()
        // Only a stop whose data reached the disk counts as clean; otherwise the next open
        // verifies everything past the checkpoint again.
        if writer.stoppedCleanly { try? FileIO.remove(configuration.abortMarkerPath) }
        lock.release()
    }

    // MARK: appending

    /// Appends one record; returns once it is as durable as the flush policy promises, or (with
    /// `.deferred`, under sync flush) once written, to be synced and made readable shortly after.
    /// - Throws: `.invalidArgument` / `.recordTooLarge` for a bad record (nothing is written),
    ///   `.diskFull` when no space is left (nothing stored is harmed; later appends work again once
    ///   there is room), `.io` when the log can no longer be written, `.closed` after `close()`.
    public func append(_ record: MessageRecord, durability: AppendDurability = .policy) async throws(StorageError) -> AppendResult {
        let encoded = try encode(record)
        let started = ContinuousClock.now
        let result: Result<AppendResult, StorageError> = await withUnsafeContinuation { continuation in
            var pending = encoded.pending(.single(continuation))
            // Replicated acknowledgements wait for followers, which copy only readable records:
            // a deferred append would wait for the next sync as well, so it is not deferred.
            pending.durability = acknowledgementGate.withLockedValue({ $0 }) == nil ? durability : .policy
            writer.submit(.append(pending))
        }
        let appended = try result.get()
        if let gate = acknowledgementGate.withLockedValue({ $0 }) {
            try await gate.waitUntilReplicated(end: appended.physicalOffset + UInt64(appended.size))
        }
        appendTimer.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        return appended
    }

    /// Hands one record to the writer thread before it returns, so records appended this way
    /// from one serial context (an actor's synchronous method) are stored in the order of the
    /// calls, and does not wait for the result: `completion` gets it, on the writer thread.
    /// For bookkeeping whose loss costs a redelivery, not a message (a replicated group's
    /// deliveries): under sync replication it does not wait for the followers either.
    /// - Throws: `.invalidArgument` / `.recordTooLarge` for a bad record (nothing is written).
    public func appendDetached(
        _ record: MessageRecord, durability: AppendDurability = .deferred,
        completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void
    ) throws(StorageError) {
        var pending = try encode(record).pending(.detached(completion))
        pending.durability = durability
        writer.submit(.append(pending))
    }

    /// Appends several records with one hand-over to the writer thread and one suspension (they
    /// share a group commit); returns each record's result in order. Records are independent: one
    /// refused (too large, a bad name) does not stop the others. For background writers with many
    /// small records (message trace events); a producer's message uses `append(_:)`.
    public func append(contentsOf records: [MessageRecord]) async -> [Result<AppendResult, StorageError>] {
        var results = [Result<AppendResult, StorageError>?](repeating: nil, count: records.count)
        var encoded: [(index: Int, record: EncodedAppend)] = []
        encoded.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            do throws(StorageError) {
                encoded.append((index, try encode(record)))
            } catch {
                results[index] = .failure(error)
            }
        }
        if !encoded.isEmpty {
            let stored: [Result<AppendResult, StorageError>] = await withUnsafeContinuation { continuation in
                let batch = AppendBatch(count: encoded.count, continuation: continuation)
                writer.submit(contentsOf: encoded.enumerated().map { slot, item in item.record.pending(.batch(batch, index: slot)) })
            }
            for (slot, item) in encoded.enumerated() { results[item.index] = stored[slot] }
            let end = stored.compactMap { try? $0.get() }.map { $0.physicalOffset + UInt64($0.size) }.max()
            if let end, let gate = acknowledgementGate.withLockedValue({ $0 }) {
                do throws(StorageError) {
                    try await gate.waitUntilReplicated(end: end)
                } catch {
                    for (slot, item) in encoded.enumerated() where (try? stored[slot].get()) != nil {
                        results[item.index] = .failure(error)
                    }
                }
            }
        }
        return results.map { $0! }
    }

    /// A record encoded for the writer, checked against the record-size limit.
    private struct EncodedAppend {
        var buffer: ByteBuffer
        var queue: QueueID
        var tagHash: UInt32
        var messageId: String
        var messageIdHash: UInt32
        var keys: [String]
        var secondary: (queue: QueueID, position: Int)?

        func pending(_ completion: AppendCompletion) -> PendingAppend {
            PendingAppend(
                buffer: buffer, queue: queue, tagHash: tagHash, messageId: messageId, messageIdHash: messageIdHash,
                keys: keys, secondary: secondary, completion: completion)
        }
    }

    private func encode(_ record: MessageRecord) throws(StorageError) -> EncodedAppend {
        let messageId = record.messageId.isEmpty ? idGenerator.next() : record.messageId
        let tagHash = record.tags.sluiceTagHash
        let (buffer, secondaryPosition) = try RecordCodec.encodeWithSecondary(
            record, messageId: messageId, tagHash: tagHash, allocator: allocator)
        if buffer.readableBytes > configuration.maxRecordBytes {
            throw StorageError(
                .recordTooLarge,
                "record is \(buffer.readableBytes) bytes; a segment holds at most \(configuration.maxRecordBytes)")
        }
        return EncodedAppend(
            buffer: buffer, queue: QueueID(topic: record.topic, queueId: record.queueId), tagHash: tagHash,
            messageId: messageId, messageIdHash: KeyIndex.hash(messageId), keys: record.keys,
            secondary: record.secondaryQueue.flatMap { queue in secondaryPosition.map { (queue, $0) } })
    }

    // MARK: reading

    /// Where readable data begins and ends.
    public var minOffset: UInt64 { shared.minOffset }
    public var endOffset: UInt64 { shared.visibleEnd }
    public var flushedOffset: UInt64 { shared.flushedEnd }

    /// Counters of the writer's work since open.
    public var statistics: LogStatistics { shared.statistics }

    /// Ranges that failed verification (at recovery or by the background scrubber).
    public var damagedRanges: [DamagedRange] { shared.damaged }

    /// Reads the record at `physicalOffset`, verifying its checksum.
    /// - Throws: `.offsetOutOfRange`, `.notFound` (no record starts there), `.corruptRecord` naming
    ///   the damaged byte range.
    public func read(at physicalOffset: UInt64) throws(StorageError) -> StoredRecord {
        guard physicalOffset < shared.visibleEnd,
            let segment = shared.segment(containing: physicalOffset)
        else {
            throw StorageError(
                .offsetOutOfRange, "offset \(physicalOffset) is outside the log [\(minOffset), \(endOffset))")
        }
        let position = Int(physicalOffset - segment.baseOffset)
        let bytes = segment.file.bytes
        switch RecordCodec.frame(in: bytes, at: position, physicalOffset: physicalOffset) {
        case .record(let header):
            let recordBytes = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + header.size)])
            guard let record = RecordCodec.decode(recordBytes, header: header, allocator: allocator) else {
                throw StorageError(.corruptRecord, "record at offset \(physicalOffset) in \(segment.path) is malformed")
            }
            return record
        case .corrupt(let reason):
            let range = shared.damage(covering: physicalOffset).map { "\($0)" }
                ?? "log bytes from \(physicalOffset) in \(segment.path) are damaged: \(reason)"
            throw StorageError(.corruptRecord, range)
        case .blank, .end:
            throw StorageError(.notFound, "no record starts at offset \(physicalOffset)")
        }
    }

    /// The readable queue offsets of a queue: `[min, next)`. An unknown queue is `(0, 0)`.
    public func queueBounds(_ queue: QueueID) -> (min: UInt64, next: UInt64) {
        (try? shared.queueIndex(for: queue, create: false))??.bounds ?? (0, 0)
    }

    /// Index entries from `queueOffset`, at most `maxCount` (no record reads).
    public func queueEntries(_ queue: QueueID, from queueOffset: UInt64, maxCount: Int) -> [QueueEntry] {
        guard let index = (try? shared.queueIndex(for: queue, create: false)) ?? nil else { return [] }
        return index.entries(from: queueOffset, maxCount: maxCount)
    }

    /// Reads the record an index entry points at and checks that they agree.
    /// - Throws: `.corruptRecord`, `.inconsistentIndex`, `.notFound` for an offset lost to damage.
    public func read(_ entry: QueueEntry, of queue: QueueID) throws(StorageError) -> StoredRecord {
        if entry.isLost {
            throw StorageError(.notFound, "queue \(queue) offset \(entry.queueOffset) was lost to log damage")
        }
        let record = try read(at: entry.physicalOffset)
        let primary = record.topic == queue.topic && record.queueId == queue.queueId && record.queueOffset == entry.queueOffset
        let secondary = record.message.secondaryQueue == queue && record.secondaryQueueOffset == entry.queueOffset
        guard primary || secondary else {
            throw StorageError(
                .inconsistentIndex,
                "index of \(queue) offset \(entry.queueOffset) points at a record of \(record.topic)#\(record.queueId) offset \(record.queueOffset)")
        }
        return record
    }

    /// The queues the log has seen.
    public var queues: [QueueID] { shared.queueIDs }

    /// The first queue offset stored at or after `timestampMs` (binary search over the index).
    public func queueOffset(_ queue: QueueID, atOrAfterTimestampMs timestampMs: Int64) -> UInt64 {
        guard let index = (try? shared.queueIndex(for: queue, create: false)) ?? nil else { return 0 }
        return index.offset(forTimestamp: timestampMs)
    }

    /// The first queue offset of `queue` whose record starts at or after commit-log offset
    /// `physicalOffset` (the queue's end when none does): a binary search over the queue's index,
    /// one entry per step — a queue's records are in log order. For a log tail about to be cut,
    /// without scanning a queue of millions of records from its start.
    public func firstQueueOffset(_ queue: QueueID, atOrAfterPhysicalOffset physicalOffset: UInt64) -> UInt64 {
        let bounds = queueBounds(queue)
        var low = bounds.min, high = bounds.next
        while low < high {
            let middle = low + (high - low) / 2
            guard let entry = queueEntries(queue, from: middle, maxCount: 1).first else {
                high = middle
                continue
            }
            if entry.physicalOffset >= physicalOffset { high = middle } else { low = max(middle, entry.queueOffset) + 1 }
        }
        return low
    }

    /// Records whose message id is `messageId`, found through the key index (newest first).
    public func lookup(messageId: String, limit: Int = 16) -> [StoredRecord] {
        shared.keyIndex.candidates(hash: KeyIndex.hash(messageId), limit: limit * 4)
            .compactMap { try? read(at: $0) }
            .filter { $0.messageId == messageId }
            .prefix(limit).map { $0 }
    }

    /// Records carrying `key` among their keys (newest first).
    public func lookup(key: String, limit: Int = 64) -> [StoredRecord] {
        shared.keyIndex.candidates(hash: KeyIndex.hash(key), limit: limit * 4)
            .compactMap { try? read(at: $0) }
            .filter { $0.message.keys.contains(key) }
            .prefix(limit).map { $0 }
    }

    // MARK: notifications, pinning, maintenance

    /// Calls `listener` on the writer thread after each batch with the queues it appended to
    /// (keep it short: wake waiters, do not do I/O). Returns a token for `removeAppendListener`.
    public func addAppendListener(_ listener: @escaping @Sendable ([QueueID]) -> Void) -> UInt64 {
        shared.addAppendListener(listener)
    }

    public func removeAppendListener(_ token: UInt64) { shared.removeAppendListener(token) }

    /// Lets a higher layer keep segments alive: retention never deletes a segment holding any byte
    /// at or above the offset `pin` returns (for example the oldest pending half-message). Each
    /// `owner` has one pin (nil removes it); the lowest of all holds.
    public func setRetentionPin(owner: String = "transactions", _ pin: (@Sendable () -> UInt64?)?) {
        shared.setPin(pin, owner: owner)
    }

    /// Runs a retention pass now on the writer thread.
    public func enforceRetention() async -> RetentionReport {
        await onWriterThread(whenClosed: RetentionReport()) { $0.enforceRetention() }
    }

    /// Syncs the log and indexes and advances the checkpoint now.
    public func checkpoint() async throws(StorageError) {
        let closed = Result<Void, StorageError>.failure(StorageError(.closed, "the commit log is closed"))
        let result: Result<Void, StorageError> = await onWriterThread(whenClosed: closed) { writer in
            do throws(SystemCallError) {
                try writer.writeCheckpoint()
                return .success(())
            } catch {
                return .failure(error.storageError("checkpoint failed"))
            }
        }
        try result.get()
    }

    /// Syncs now if deferred appends (`AppendDurability.deferred`) wait for a sync, making them
    /// durable and readable; returns at once when none do. For a writer that must not let
    /// another store get ahead of the log (the transaction table).
    public func syncDeferred() async throws(StorageError) {
        let closed = Result<Void, StorageError>.failure(StorageError(.closed, "the commit log is closed"))
        let result: Result<Void, StorageError> = await onWriterThread(whenClosed: closed) { writer in
            do throws(SystemCallError) {
                try writer.syncDeferred()
                return .success(())
            } catch {
                return .failure(error.storageError("cannot sync deferred appends"))
            }
        }
        try result.get()
    }

    /// Waits until the background scrub of data behind the checkpoint has finished.
    public func waitForScrub() async { await scrub.waitUntilDone() }

    private func onWriterThread<T: Sendable>(whenClosed: T, _ work: @escaping @Sendable (LogWriter) -> T) async -> T {
        await withCheckedContinuation { continuation in
            writer.submit(.maintenance { writer in continuation.resume(returning: writer.map(work) ?? whenClosed) })
        }
    }
}
