import CSluiceShims
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// An append waiting for the writer thread.
struct PendingAppend {
    var buffer: ByteBuffer
    var queue: QueueID
    var tagHash: UInt32
    var messageId: String
    /// The key-index hash of `messageId`, computed by the appender to keep it off the writer thread.
    var messageIdHash: UInt32
    var keys: [String]
    /// The second queue indexing this record and where its offset sits in `buffer`.
    var secondary: (queue: QueueID, position: Int)?
    var durability: AppendDurability = .policy
    /// Who waits for the result: completed exactly once, through `complete`.
    var completion: AppendCompletion

    func complete(_ result: Result<AppendResult, StorageError>) {
        switch completion {
        case .single(let continuation): continuation.resume(returning: result)
        case .batch(let batch, let index): batch.complete(index, result)
        case .detached(let completion): completion(result)
        }
    }
}

/// Where an append's result goes.
enum AppendCompletion {
    /// One suspended appender, resumed directly (no completion closure, no checked-continuation
    /// box: both cost an allocation per append).
    case single(UnsafeContinuation<Result<AppendResult, StorageError>, Never>)
    /// One slot of `CommitLog.append(contentsOf:)`: its appender resumes when every slot is done.
    case batch(AppendBatch, index: Int)
    /// `CommitLog.appendDetached`: nobody waits; called on the writer thread (keep it short).
    case detached(@Sendable (Result<AppendResult, StorageError>) -> Void)
}

/// The results of appends submitted together; resumes their one appender after the last.
final class AppendBatch: @unchecked Sendable {
    // @unchecked: `lock` guards `results` and `remaining`.
    private let lock = NIOLock()
    private var results: [Result<AppendResult, StorageError>?]
    private var remaining: Int
    private let continuation: UnsafeContinuation<[Result<AppendResult, StorageError>], Never>

    init(count: Int, continuation: UnsafeContinuation<[Result<AppendResult, StorageError>], Never>) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<AppendResult, StorageError>) {
        let finished: [Result<AppendResult, StorageError>]? = lock.withLock {
            results[index] = result
            remaining -= 1
            return remaining == 0 ? results.map { $0! } : nil
        }
        if let finished { continuation.resume(returning: finished) }
    }
}

/// Work for the writer thread besides appends.
enum WriterTask {
    case append(PendingAppend)
    /// Runs on the writer thread between batches (retention, forced flush or checkpoint).
    /// Called with nil when the writer has stopped.
    case maintenance(@Sendable (LogWriter?) -> Void)
}

/// The one thread that writes the commit log.
///
/// Appenders on any task enqueue encoded records; the thread takes everything queued, assigns
/// offsets, writes the batch with `pwritev`, and — under `FlushPolicy.sync` — makes it durable
/// with one `fdatasync` before completing every append of the batch (group commit). Index
/// entries are written after the data and published together, so a reader never sees an entry
/// whose record is not (yet) as durable as the policy promises.
final class LogWriter: @unchecked Sendable {
    // @unchecked: `condition` guards `tasks` and `stopping`; every other mutable field is touched
    // only by the writer thread (after `start`) or before the thread starts.
    private let condition = NSCondition()
    private var tasks: [WriterTask] = []
    private var stopping = false
    private var stopped = false
    private let stoppedSignal = NSCondition()

    let configuration: CommitLogConfiguration
    let shared: LogShared
    let logger: Logger

    // Internal, not private: the replication facet (`LogWriter+Replication.swift`) moves them too.
    var writePosition: UInt64
    var activeSegment: Segment
    /// Segments written since their last `fdatasync`.
    var unsyncedSegments: [Segment] = []
    private var lastFlush = ContinuousClock.now
    private var lastCheckpoint = ContinuousClock.now
    private var lastRetention = ContinuousClock.now
    /// Set after a failed `fdatasync`: the kernel may have dropped dirty pages, so nothing more is
    /// acknowledged until a restart recovers from what is really on disk.
    var failure: StorageError?
    /// Deferred appends (`AppendDurability.deferred`) written and acknowledged but not yet synced,
    /// so not yet readable: the next `flushLog()` publishes them.
    var unsyncedDeferred: UnsyncedDeferred?

    struct UnsyncedDeferred {
        /// When the first of them was written: they are synced `deferredSyncDelay` after it.
        var since: ContinuousClock.Instant
        /// Where their data ends: the readable end once synced.
        var end: UInt64
        /// The queues their entries were written to, unpublished.
        var indexes: [ObjectIdentifier: QueueIndex] = [:]
    }

    private let fsyncTimer = Metrics.Timer(label: "sluice_fsync_seconds")
    private let logBytesGauge = Gauge(label: "sluice_commitlog_bytes")

    init(configuration: CommitLogConfiguration, shared: LogShared, writePosition: UInt64, activeSegment: Segment, logger: Logger) {
        self.configuration = configuration
        self.shared = shared
        self.writePosition = writePosition
        self.activeSegment = activeSegment
        self.logger = logger
    }

    func start() {
        // Named from inside: on Linux a name set before `start()` is not applied.
        let thread = Thread { [self] in
            // At most 15 characters: Linux refuses longer thread names (the thread then kept its
            // creator's name, "sluice-recovery", in top and perf).
            _ = sluice_set_current_thread_name("sluice-logwrite")
            run()
        }
        thread.start()
    }

    /// Enqueues work; fails appends at once when the writer has stopped.
    func submit(_ task: WriterTask) {
        condition.lock()
        if stopping {
            condition.unlock()
            switch task {
            case .append(let append): append.complete(.failure(StorageError(.closed, "the commit log is closed")))
            case .maintenance(let work): work(nil)
            }
            return
        }
        tasks.append(task)
        // Signalled after unlocking: signalled under the lock, the writer woke only to block on
        // the lock this thread still held (a second futex wake and context switch per append,
        // `perf record -e syscalls:sys_enter_futex`). No wake-up is lost: the writer checks
        // `tasks` under the lock before it waits, and a wait releases the lock atomically.
        condition.unlock()
        condition.signal()
    }

    /// Enqueues several appends with one lock and one wake-up.
    func submit(contentsOf appends: [PendingAppend]) {
        condition.lock()
        if stopping {
            condition.unlock()
            for append in appends { append.complete(.failure(StorageError(.closed, "the commit log is closed"))) }
            return
        }
        for append in appends { tasks.append(.append(append)) }
        condition.unlock()
        condition.signal()
    }

    /// Whether the final flush and checkpoint succeeded (then the stop was clean).
    private(set) var stoppedCleanly = false

    /// Drains queued work, syncs, writes a final checkpoint and ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        stoppedSignal.lock()
        while !stopped { stoppedSignal.wait() }
        stoppedSignal.unlock()
    }

    // MARK: the thread

    private func run() {
        // Two task arrays trade places each round, so neither is reallocated per batch (copying
        // `tasks` out and clearing it would allocate a fresh buffer of the same capacity).
        var batch: [WriterTask] = []
        var appends: [PendingAppend] = []
        while true {
            condition.lock()
            while tasks.isEmpty && !stopping {
                if !condition.wait(until: nextDeadline()) { break }
            }
            swap(&batch, &tasks)
            let finishing = stopping && batch.isEmpty
            condition.unlock()

            // A batch ends at the byte limit, or before its key-index entries would overflow one
            // key-index file (they are reserved up front so a batch never fails half-way).
            appends.reserveCapacity(batch.count)
            var bytes = 0
            var keys = 0
            for task in batch {
                switch task {
                case .append(let append):
                    let appendKeys = append.keys.count + (append.messageId.isEmpty ? 0 : 1)
                    if keys + appendKeys > shared.keyIndex.capacity && !appends.isEmpty {
                        process(appends)
                        appends.removeAll(keepingCapacity: true)
                        bytes = 0
                        keys = 0
                    }
                    appends.append(append)
                    bytes += append.buffer.readableBytes
                    keys += appendKeys
                    if bytes >= configuration.maxBatchBytes {
                        process(appends)
                        appends.removeAll(keepingCapacity: true)
                        bytes = 0
                        keys = 0
                    }
                case .maintenance(let work):
                    if !appends.isEmpty {
                        process(appends)
                        appends.removeAll(keepingCapacity: true)
                        bytes = 0
                    }
                    keys = 0
                    work(self)
                }
            }
            if !appends.isEmpty { process(appends) }
            appends.removeAll(keepingCapacity: true)
            batch.removeAll(keepingCapacity: true)  // drop the records now, not at the next wake-up
            runTimers()
            if finishing { break }
        }
        finishShutdown()
        stoppedSignal.lock()
        stopped = true
        stoppedSignal.broadcast()
        stoppedSignal.unlock()
    }

    private func nextDeadline() -> Date {
        var wait = configuration.checkpointInterval
        if case .async(let interval) = configuration.flush { wait = min(wait, interval) }
        wait = min(wait, configuration.retention.checkInterval)
        if let unsyncedDeferred {
            wait = min(wait, configuration.deferredSyncDelay - (ContinuousClock.now - unsyncedDeferred.since))
        }
        let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
        return Date(timeIntervalSinceNow: max(0.001, seconds))
    }

    private func runTimers() {
        let now = ContinuousClock.now
        do throws(SystemCallError) {
            if case .async(let interval) = configuration.flush, now - lastFlush >= interval { try flushLog() }
            if let unsyncedDeferred, now - unsyncedDeferred.since >= configuration.deferredSyncDelay { try flushLog() }
            if now - lastCheckpoint >= configuration.checkpointInterval { try writeCheckpoint() }
        } catch {
            // After a failed fdatasync the kernel may have dropped the dirty pages: acknowledge
            // nothing more until a restart recovers from what is really on disk.
            let failure = error.storageError("background flush failed")
            if error.call == "fdatasync" || error.call == "msync" { self.failure = failure }
            logger.error("background flush failed", metadata: ["error": "\(error)"])
        }
        if now - lastRetention >= configuration.retention.checkInterval {
            lastRetention = now
            _ = enforceRetention()
        }
    }

    private func finishShutdown() {
        do throws(SystemCallError) {
            guard failure == nil else { throw SystemCallError(call: "fdatasync", path: "(earlier failure)", errno: EIO) }
            try flushLog()
            try writeCheckpoint()
            stoppedCleanly = true
        } catch {
            logger.error("final flush failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: group commit

    private struct Accepted {
        var append: PendingAppend
        var result: AppendResult
    }

    /// A queue's bookkeeping within one batch, so an append costs one dictionary lookup and no
    /// index lock: the offset its next record gets, how far its index files reach, and the
    /// entries to write once the batch is as durable as the policy promises.
    private struct BatchQueue {
        let index: QueueIndex
        var nextOffset: UInt64
        var reservedEnd: UInt64
        var entries: [QueueEntry] = []
    }

    private struct BatchQueues {
        var queues: [BatchQueue] = []
        var slots: [QueueID: Int] = [:]
    }

    private struct Run {
        var segment: Segment
        var start: UInt64
        var vectors: [iovec] = []
    }

    private func process(_ batch: [PendingAppend]) {
        if let failure {
            for append in batch { append.complete(.failure(failure)) }
            return
        }
        // A follower's log holds only what its leader wrote (`appendReplicated`); checked here, on
        // the writer thread, so no local append can slip in between a role change and its batch.
        if let refusal = shared.localAppendRefusal {
            for append in batch { append.complete(.failure(refusal)) }
            return
        }
        let storeTime = configuration.wallClockMs()
        let startPosition = writePosition
        let startSegment = activeSegment
        var accepted: [Accepted] = []
        accepted.reserveCapacity(batch.count)
        var failed: [(PendingAppend, StorageError)] = []
        var queues = BatchQueues()
        var runs = [Run(segment: activeSegment, start: writePosition)]
        runs[0].vectors.reserveCapacity(batch.count)
        var storages: [Unmanaged<AnyObject>] = []
        storages.reserveCapacity(batch.count)
        defer {
            for storage in storages { storage.release() }
            for pointer in blankAllocations { pointer.deallocate() }
            blankAllocations.removeAll()
        }

        let keyCount = batch.reduce(0) { $0 + $1.keys.count + ($1.messageId.isEmpty ? 0 : 1) }
        do throws(SystemCallError) {
            try shared.keyIndex.reserve(keyCount)
        } catch {
            let failure = error.storageError("cannot extend the key index")
            for append in batch { append.complete(.failure(failure)) }
            return
        }
        var keys: [(hash: UInt32, physicalOffset: UInt64)] = []
        keys.reserveCapacity(keyCount)

        // A batch of deferred appends alone is written but neither synced nor made readable: the
        // next sync does both (a reader never sees a record less durable than the policy says).
        let holdsVisibility = configuration.flush == .sync && batch.allSatisfy { $0.durability == .deferred }
        var rollFailure: StorageError?
        for append in batch {
            if let rollFailure {
                failed.append((append, rollFailure))
                continue
            }
            let size = append.buffer.readableBytes
            let slot: Int
            var secondarySlot: Int?
            do throws(SystemCallError) {
                slot = try reserveEntry(in: append.queue, &queues)
                if let secondary = append.secondary { secondarySlot = try reserveEntry(in: secondary.queue, &queues) }
            } catch {
                failed.append((append, error.storageError("cannot extend the index of queue \(append.queue)")))
                continue
            }
            if writePosition + UInt64(size) > activeSegment.endOffset {
                do throws(StorageError) {
                    let next = try nextSegment()
                    let remaining = Int(activeSegment.endOffset - writePosition)
                    if remaining >= RecordFormat.blankHeaderSize {
                        runs[runs.count - 1].vectors.append(blankVector(size: remaining))
                    }
                    activeSegment = next
                    writePosition = next.baseOffset
                    runs.append(Run(segment: next, start: writePosition))
                } catch {
                    rollFailure = error
                    failed.append((append, error))
                    continue
                }
            }
            let queueOffset = queues.queues[slot].nextOffset
            queues.queues[slot].nextOffset += 1
            var secondary: (position: Int, offset: UInt64)?
            if let secondarySlot, let position = append.secondary?.position {
                secondary = (position, queues.queues[secondarySlot].nextOffset)
                queues.queues[secondarySlot].nextOffset += 1
            }
            let physical = writePosition
            append.buffer.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
                // Sealed through the read-only view on purpose: the batch arrays share this storage,
                // so the mutating accessor would copy the whole record (copy-on-write) per append.
                // The bytes are the writer's alone: the appender never reads its buffer after
                // `submit`, and readers see them only after `publishEnd`.
                RecordCodec.seal(
                    UnsafeMutableRawBufferPointer(mutating: bytes), physicalOffset: physical, queueOffset: queueOffset,
                    storeTimestampMs: storeTime, secondary: secondary)
                storages.append(storage.retain())
                runs[runs.count - 1].vectors.append(
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), iov_len: bytes.count))
            }
            writePosition += UInt64(size)
            let entry = QueueEntry(
                queueOffset: queueOffset, physicalOffset: physical, size: UInt32(size), tagHash: append.tagHash,
                storeTimestampMs: storeTime)
            queues.queues[slot].entries.append(entry)
            if let secondarySlot, let secondary {
                var secondaryEntry = entry
                secondaryEntry.queueOffset = secondary.offset
                queues.queues[secondarySlot].entries.append(secondaryEntry)
            }
            if !append.messageId.isEmpty { keys.append((append.messageIdHash, physical)) }
            for key in append.keys { keys.append((KeyIndex.hash(key), physical)) }
            let result = AppendResult(
                physicalOffset: physical, queueOffset: queueOffset, messageId: append.messageId,
                storeTimestampMs: storeTime, size: size, secondaryQueueOffset: secondary?.offset)
            accepted.append(Accepted(append: append, result: result))
        }

        do throws(SystemCallError) {
            for var run in runs where !run.vectors.isEmpty {
                try FileIO.pwritevAll(
                    run.segment.file.fd, &run.vectors, at: Int(run.start - run.segment.baseOffset),
                    path: run.segment.path)
                if !unsyncedSegments.contains(where: { $0 === run.segment }) { unsyncedSegments.append(run.segment) }
            }
            // Followers may copy the batch while it syncs here (a sync append waits for both): the
            // leader's sync and a follower's fetch and sync overlap instead of following each other.
            // Should the sync fail, the writer stops for good (`failure`), so no later batch ever
            // writes other bytes at these offsets.
            if !accepted.isEmpty { shared.publishWritten(writePosition) }
            if configuration.flush == .sync && !accepted.isEmpty && !holdsVisibility { try flushLog() }
        } catch {
            // Nothing of this batch is acknowledged; the next batch overwrites the same bytes.
            writePosition = startPosition
            activeSegment = startSegment
            let failure = error.storageError("cannot write the commit log")
            if error.call == "fdatasync" { self.failure = failure }
            for item in accepted { item.append.complete(.failure(failure)) }
            for (append, error) in failed { append.complete(.failure(error)) }
            return
        }

        let touched = queues.queues.filter { !$0.entries.isEmpty }
        if holdsVisibility && !accepted.isEmpty {
            for queue in touched { queue.index.write(contentsOf: queue.entries) }
            // Key look-ups read through `read(at:)`, which stops at the readable end: an entry
            // ahead of its record is skipped until the sync.
            shared.keyIndex.insert(contentsOf: keys, storeTimestampMs: storeTime)
            var unsynced = unsyncedDeferred ?? UnsyncedDeferred(since: .now, end: writePosition)
            unsynced.end = writePosition
            for queue in touched { unsynced.indexes[ObjectIdentifier(queue.index)] = queue.index }
            unsyncedDeferred = unsynced
            shared.recordBatch(records: accepted.count, bytes: Int(writePosition - startPosition))
            logBytesGauge.record(Int64(writePosition - shared.minOffset))
            for item in accepted { item.append.complete(.success(item.result)) }
            for (append, error) in failed { append.complete(.failure(error)) }
            return
        }
        // The data is written (and synced under sync flush): make it readable, then index it, one
        // lock per queue and one for the key index. In this order a reader that sees an index
        // entry can always read its record (the other order let a consumer find an entry whose
        // record was still past the readable end, and skip it). With deferred appends still
        // unsynced (this batch accepted nothing, so it did not sync) the end stays before them.
        if unsyncedDeferred == nil { shared.publishEnd(writePosition) }
        for queue in touched { queue.index.write(contentsOf: queue.entries) }
        shared.keyIndex.insert(contentsOf: keys, storeTimestampMs: storeTime)
        for queue in touched { queue.index.publish() }
        shared.recordBatch(records: accepted.count, bytes: Int(writePosition - startPosition))
        logBytesGauge.record(Int64(writePosition - shared.minOffset))

        for item in accepted { item.append.complete(.success(item.result)) }
        for (append, error) in failed { append.complete(.failure(error)) }
        if !touched.isEmpty { shared.notifyAppended(touched.map(\.index.queue)) }
    }

    /// The batch slot of `queue`, with room in its index for one more entry. Takes the index's
    /// lock only when the queue first shows up in the batch or its files must grow.
    private func reserveEntry(in queue: QueueID, _ batch: inout BatchQueues) throws(SystemCallError) -> Int {
        let slot: Int
        if let known = batch.slots[queue] {
            slot = known
        } else {
            let index = try shared.queueIndex(creating: queue)
            slot = batch.queues.count
            batch.queues.append(BatchQueue(index: index, nextOffset: index.nextWriteOffset, reservedEnd: 0))
            batch.slots[queue] = slot
        }
        let next = batch.queues[slot].nextOffset
        if next >= batch.queues[slot].reservedEnd {
            batch.queues[slot].reservedEnd = try batch.queues[slot].index.reserve(upTo: next + 1)
        }
        return slot
    }

    /// The segment after the active one: reused if a failed batch already created it.
    func nextSegment() throws(StorageError) -> Segment {
        let base = activeSegment.endOffset
        if let existing = shared.segment(startingAt: base) { return existing }
        do throws(SystemCallError) {
            let segment = try Segment(
                directory: configuration.commitLogDirectory, baseOffset: base, size: configuration.segmentSizeBytes,
                create: true)
            shared.addSegment(segment)
            return segment
        } catch {
            throw error.storageError("cannot create commit-log segment \(Segment.fileName(base))")
        }
    }

    /// An 8-byte blank header: magic and the size to the end of the segment.
    private func blankVector(size: Int) -> iovec {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: RecordFormat.blankHeaderSize, alignment: 8)
        pointer.storeBytes(of: RecordFormat.blankMagic.littleEndian, as: UInt32.self)
        pointer.storeBytes(of: UInt32(size).littleEndian, toByteOffset: 4, as: UInt32.self)
        blankAllocations.append(pointer)
        return iovec(iov_base: pointer, iov_len: RecordFormat.blankHeaderSize)
    }
    private var blankAllocations: [UnsafeMutableRawPointer] = []

    // MARK: flush, checkpoint

    /// `fdatasync` of every segment written since the last sync.
    func flushLog() throws(SystemCallError) {
        guard !unsyncedSegments.isEmpty else {
            publishSyncedDeferred()
            return
        }
        configuration.beforeLogSync?()
        let started = ContinuousClock.now
        for segment in unsyncedSegments {
            try segment.file.syncData()
            shared.recordSync()
        }
        unsyncedSegments.removeAll(keepingCapacity: true)
        lastFlush = ContinuousClock.now
        fsyncTimer.recordNanoseconds(Int64((lastFlush - started) / .nanoseconds(1)))
        shared.publishFlushed(writePosition)
        publishSyncedDeferred()
    }

    /// Makes the deferred appends synced by the last `flushLog()` readable: their end first, then
    /// their index entries, then the wake-ups (the order `process` keeps).
    private func publishSyncedDeferred() {
        guard let unsynced = unsyncedDeferred else { return }
        unsyncedDeferred = nil
        if shared.visibleEnd < unsynced.end { shared.publishEnd(unsynced.end) }
        for index in unsynced.indexes.values { index.publish() }
        if !unsynced.indexes.isEmpty { shared.notifyAppended(unsynced.indexes.values.map(\.queue)) }
    }

    /// Syncs now if deferred appends wait for it (`CommitLog.syncDeferred()`).
    func syncDeferred() throws(SystemCallError) {
        if unsyncedDeferred != nil { try flushLog() }
    }

    /// Syncs the log and every dirty index, then records the position as the new checkpoint.
    func writeCheckpoint() throws(SystemCallError) {
        lastCheckpoint = ContinuousClock.now
        try flushLog()
        for index in shared.allQueueIndexes() { try index.syncIfDirty() }
        try shared.keyIndex.syncIfDirty()
        let keyPosition = shared.keyIndex.position
        let checkpoint = Checkpoint(
            logOffset: writePosition, keyIndexSequence: keyPosition.sequence, keyIndexCount: UInt64(keyPosition.count),
            writtenAtMs: configuration.wallClockMs())
        if checkpoint.logOffset != shared.lastCheckpoint?.logOffset || shared.lastCheckpoint == nil {
            try checkpoint.save(directory: configuration.directory)
            shared.lastCheckpoint = checkpoint
        }
    }

    // MARK: retention

    /// Deletes sealed segments past the retention age or while the disk is too full, never the
    /// active segment nor any segment at or above the lowest pinned offset.
    func enforceRetention() -> RetentionReport {
        var report = RetentionReport()
        let pinned = shared.pinnedLowWatermark()
        let nowSeconds = configuration.wallClockMs() / 1000
        let maxAgeSeconds = configuration.retention.maxAge.components.seconds
        while true {
            guard let oldest = shared.oldestSegment(), oldest !== activeSegment else { break }
            if let pinned, oldest.endOffset > pinned {
                report.blockedByPin = true
                break
            }
            let age = nowSeconds - (FileIO.modificationTimeSeconds(oldest.path) ?? nowSeconds)
            let tooOld = age >= maxAgeSeconds
            let tooFull = DiskUsage.usedFraction(of: configuration.directory) > configuration.retention.maxDiskUsedFraction
            guard tooOld || tooFull else { break }
            shared.removeOldestSegment()
            do throws(SystemCallError) {
                try FileIO.remove(oldest.path)
            } catch {
                logger.error("cannot delete a retired segment", metadata: ["path": "\(oldest.path)", "error": "\(error)"])
                break
            }
            report.deletedSegments.append(oldest.path)
            logger.info(
                "deleted a sealed segment",
                metadata: ["path": "\(oldest.path)", "reason": "\(tooOld ? "age" : "disk usage")"])
        }
        if !report.deletedSegments.isEmpty {
            let minimum = shared.minOffset
            for index in shared.allQueueIndexes() { index.dropEntries(belowPhysical: minimum) }
            shared.keyIndex.dropFiles(belowPhysical: minimum)
            try? FileIO.syncDirectory(configuration.commitLogDirectory)
        }
        return report
    }
}

/// Counters of the writer's work since open: how well appends were grouped.
public struct LogStatistics: Sendable {
    public var records = 0
    /// Group commits: each wrote its records with one `pwritev` pass.
    public var batches = 0
    /// `fdatasync` calls on segments.
    public var syncs = 0
    /// Bytes written by appends (blank fillers included).
    public var bytes = 0
}

/// What one retention pass did.
public struct RetentionReport: Sendable {
    public var deletedSegments: [String] = []
    /// A segment was due but holds pinned data (for example a pending half-message).
    public var blockedByPin = false
}

public enum DiskUsage {
    static func usedFraction(of path: String) -> Double {
        var info = statvfs()
        guard statvfs(path, &info) == 0, info.f_blocks > 0 else { return 0 }
        return 1 - Double(info.f_bavail) / Double(info.f_blocks)
    }

    /// Bytes an unprivileged writer may still use on the file system holding `path`; nil when
    /// it cannot be asked.
    public static func availableBytes(at path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (bytes, overflow) = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
        return overflow ? .max : bytes
    }
}
