import Logging
import SluiceStorage
import Synchronization

/// What every follower of a replicated change journal does with its system queue (topics, users,
/// lite subscriptions, MQTT retained messages and sessions; docs/architecture.md §15): replay the
/// copied records in order from a cursor, stop before a tail that is about to be cut, note what
/// that tail's records named, and afterwards move the cursor back and hand over those names so
/// the store can put each back as the remaining records define it. The store keeps its own
/// serialisation (every call here runs inside it) and what a record means.
///
/// `Keys` is what a cut tail named, merged across cuts: a set of names, or names per group.
final class CopiedChangeFollower<Keys: Sendable>: Sendable {
    let queue: QueueID
    /// Records read per index look-up (fewer where a record may carry a message's payload).
    let batch: Int
    /// Names the records in log lines: "lite record unreadable; skipped", `lite.offset`.
    let label: String
    let logger: Logger

    private struct Position {
        /// The queue offset below which every record is applied here; nil: not known yet (the
        /// first replay starts at the stored cursor, or at the queue's start without one).
        var cursor: UInt64?
        /// What `cursors` holds (nil: nothing stored yet); read once, by the first replay.
        var stored: UInt64?
        var storedLoaded = false
        /// Between `noteCut` and `endCut`: the first queue offset of the tail being cut (replays
        /// stop before it) and what its records named.
        var cut: (firstOffset: UInt64, keys: Keys)?
    }
    private let position = Mutex(Position())
    /// Where the cursor is stored (nil: not stored; every start-up replays the whole queue).
    let cursors: JournalCursorTable?

    init(queue: QueueID, batch: Int = 256, label: String, logger: Logger, cursors: JournalCursorTable? = nil) {
        self.queue = queue
        self.batch = batch
        self.label = label
        self.logger = logger
        self.cursors = cursors
    }

    /// Applies the records copied since the last call, in order, moving the cursor past each, so a
    /// failure leaves it at the failed record and the next call tries that again. An unreadable
    /// record is logged and skipped (it would fail the same way every time). Returns how many
    /// records were read.
    func replay<Failure: Error>(
        _ log: CommitLog, apply: (StoredRecord) async throws(Failure) -> Void
    ) async throws(Failure) -> Int {
        await loadStoredCursor(log)
        var bounds = log.queueBounds(queue)
        let (start, cut) = position.withLock { ($0.cursor, $0.cut?.firstOffset) }
        if let cut { bounds.next = min(bounds.next, cut) }
        var offset = max(bounds.min, min(bounds.next, start ?? bounds.min))
        var read = 0
        while offset < bounds.next {
            let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(UInt64(batch), bounds.next - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                if let record = try? log.read(entry, of: queue) {
                    try await apply(record)
                } else {
                    logger.error("\(label) record unreadable; skipped", metadata: ["\(label).offset": "\(entry.queueOffset)"])
                }
                read += 1
                offset = entry.queueOffset + 1
                let reached = offset
                position.withLock { $0.cursor = reached }
            }
        }
        let end = offset
        position.withLock { $0.cursor = max($0.cursor ?? bounds.next, end) }
        await storeCursor()
        return read
    }

    /// The leader applies each record as it makes it: moves the cursor to the queue's end (and
    /// stores it), so a restart replays only what came after. Call inside the store's
    /// serialisation, where each record's rows are written before the next call; not before the
    /// first replay (records below the end may not be applied yet) nor during a cut.
    func passOwnRecords(_ log: CommitLog) async {
        guard cursors != nil else { return }
        let next = log.queueBounds(queue).next
        let moved = position.withLock { position -> Bool in
            guard position.cut == nil, let cursor = position.cursor, cursor != next else { return false }
            position.cursor = next
            return true
        }
        if moved { await storeCursor() }
    }

    /// Reads the stored cursor once: the first replay starts there. A cursor past the queue's end
    /// (its tail was cut while this broker was down) comes back to the end, and is stored so.
    private func loadStoredCursor(_ log: CommitLog) async {
        guard let cursors, !position.withLock({ $0.storedLoaded }) else { return }
        let stored = await cursors.load()
        let next = log.queueBounds(queue).next
        position.withLock { position in
            guard !position.storedLoaded else { return }
            position.storedLoaded = true
            position.stored = stored
            if position.cursor == nil { position.cursor = stored.map { min($0, next) } }
        }
    }

    /// Stores the cursor when it moved: forward after the rows it passes are written, back
    /// (a cut) synced. A failure only costs a longer replay at the next start-up; it is logged.
    private func storeCursor() async {
        guard let cursors else { return }
        let (current, stored) = position.withLock { ($0.cursor, $0.stored) }
        guard let current, current != stored else { return }
        let back = stored.map { current < $0 } ?? false
        do throws(BrokerError) {
            try await cursors.store(current, synced: back)
            position.withLock { $0.stored = current }
        } catch {
            logger.warning("\(label) cursor not stored", metadata: ["error": "\(error)"])
        }
    }

    /// The log is about to be cut at commit-log offset `cut`: stops replays before the tail and
    /// notes what its records name (`names`, merged with an earlier cut's by `merge`).
    func noteCut(_ log: CommitLog, from cut: UInt64, names: ([StoredRecord]) -> Keys, merge: (Keys, Keys) -> Keys) {
        let bounds = log.queueBounds(queue)
        var first = bounds.next
        var tail: [StoredRecord] = []
        var offset = log.firstQueueOffset(queue, atOrAfterPhysicalOffset: cut)
        while offset < bounds.next {
            let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(UInt64(batch), bounds.next - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                offset = entry.queueOffset + 1
                guard entry.physicalOffset >= cut else { continue }
                first = min(first, entry.queueOffset)
                if let record = try? log.read(entry, of: queue) { tail.append(record) }
            }
        }
        let named = names(tail)
        position.withLock { position in
            let earlier = position.cut
            position.cut = (min(earlier?.firstOffset ?? first, first), earlier.map { merge($0.keys, named) } ?? named)
        }
    }

    /// The log was cut: the cursor moves back to the queue's new end (records copied there later
    /// are applied as usual) and is stored synced. Returns what the cut tail named (nil: no cut
    /// was noted).
    func endCut(_ log: CommitLog) async -> Keys? {
        // A cut before the first replay must not pass records that were never applied.
        await loadStoredCursor(log)
        let next = log.queueBounds(queue).next
        let keys = position.withLock { position in
            // No cursor yet: the next replay starts at the queue's start, past nothing unapplied.
            if let cursor = position.cursor { position.cursor = min(cursor, next) }
            defer { position.cut = nil }
            return position.cut?.keys
        }
        await storeCursor()
        return keys
    }

    /// Calls `body` with every record left in the queue, oldest first (to put back what a cut
    /// tail changed), reading `batch` index entries at a time: memory stays bounded however long
    /// the queue is (a queue of MQTT session changes holds a record per QoS 2 step).
    func forEachRemainingRecord(_ log: CommitLog, _ body: (StoredRecord) -> Void) {
        let bounds = log.queueBounds(queue)
        var offset = bounds.min
        while offset < bounds.next {
            let entries = log.queueEntries(queue, from: offset, maxCount: Int(min(UInt64(batch), bounds.next - offset)))
            if entries.isEmpty { break }
            for entry in entries {
                offset = entry.queueOffset + 1
                if let record = try? log.read(entry, of: queue) { body(record) }
            }
        }
    }

    /// Calls `apply` every `interval` while `log` refuses local appends (this broker follows),
    /// and `passOwn` while it leads, until cancelled; a failure is logged as "copied <what> not
    /// applied yet" and tried again.
    func follow(
        _ log: CommitLog, every interval: Duration, what: String, apply: () async throws -> Void,
        passOwn: () async -> Void
    ) async {
        while !Task.isCancelled {
            if log.refusesLocalAppends {
                do {
                    try await apply()
                } catch {
                    logger.warning("copied \(what) not applied yet", metadata: ["error": "\(error)"])
                }
            } else {
                await passOwn()
            }
            try? await Task.sleep(for: interval)
        }
    }
}
