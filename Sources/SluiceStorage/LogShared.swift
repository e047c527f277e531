import NIOConcurrencyHelpers

/// State the writer thread publishes and readers consult: the segment table, the readable end,
/// the queue indexes, the key index, damage found so far and the retention pin.
final class LogShared: Sendable {
    let configuration: CommitLogConfiguration
    let keyIndex: KeyIndex

    private struct State {
        var segments = SegmentTable()
        /// Records below this offset are readable (written, and synced under sync flush).
        var visibleEnd: UInt64 = 0
        /// Records below this offset are written to their segment (page cache), maybe not yet
        /// synced: what a leader may ship to its followers (≥ `visibleEnd`).
        var writtenEnd: UInt64 = 0
        var writtenListener: (@Sendable () -> Void)?
        var flushedEnd: UInt64 = 0
        var queues: [QueueID: QueueIndex] = [:]
        var damaged: [DamagedRange] = []
        var lastCheckpoint: Checkpoint?
        /// By owner: retention keeps everything from the lowest offset any of them returns.
        var pins: [String: @Sendable () -> UInt64?] = [:]
        var statistics = LogStatistics()
        var appendListeners: [UInt64: @Sendable ([QueueID]) -> Void] = [:]
        var nextListenerID: UInt64 = 0
        /// Set while this log follows a leader: local appends fail with it.
        var localAppendRefusal: StorageError?
    }
    private let state = NIOLockedValueBox(State())

    init(configuration: CommitLogConfiguration, keyIndex: KeyIndex) {
        self.configuration = configuration
        self.keyIndex = keyIndex
    }

    // MARK: segments

    func setSegments(_ segments: [Segment]) { state.withLockedValue { $0.segments.segments = segments } }
    func addSegment(_ segment: Segment) { state.withLockedValue { $0.segments.segments.append(segment) } }
    func segment(containing offset: UInt64) -> Segment? {
        state.withLockedValue { $0.segments.segment(containing: offset) }
    }
    func segment(startingAt offset: UInt64) -> Segment? {
        state.withLockedValue { $0.segments.segments.last { $0.baseOffset == offset } }
    }
    func oldestSegment() -> Segment? { state.withLockedValue { $0.segments.segments.first } }
    func removeOldestSegment() { state.withLockedValue { _ = $0.segments.segments.removeFirst() } }
    var segments: [Segment] { state.withLockedValue { $0.segments.segments } }
    var minOffset: UInt64 { state.withLockedValue { $0.segments.minOffset } }

    /// Drops every segment that starts after `offset` (a replica's truncation) and returns them.
    func removeSegments(startingAfter offset: UInt64) -> [Segment] {
        state.withLockedValue { state in
            let removed = state.segments.segments.filter { $0.baseOffset > offset }
            state.segments.segments.removeAll { $0.baseOffset > offset }
            return removed
        }
    }

    // MARK: replica mode

    var localAppendRefusal: StorageError? {
        get { state.withLockedValue { $0.localAppendRefusal } }
        set { state.withLockedValue { $0.localAppendRefusal = newValue } }
    }

    // MARK: positions

    /// Records below `offset` are readable (and written: the written end follows when behind).
    func publishEnd(_ offset: UInt64) {
        let listener = state.withLockedValue { state -> (@Sendable () -> Void)? in
            state.visibleEnd = offset
            return Self.raiseWritten(&state, to: offset)
        }
        listener?()
    }

    /// The writer wrote up to `offset` (synced or not): followers may copy it now.
    func publishWritten(_ offset: UInt64) {
        let listener = state.withLockedValue { Self.raiseWritten(&$0, to: offset) }
        listener?()
    }

    /// Moves the written end up to `offset`; the written listener to tell (a leader's waiting
    /// fetches) when it moved.
    private static func raiseWritten(_ state: inout State, to offset: UInt64) -> (@Sendable () -> Void)? {
        guard state.writtenEnd < offset else { return nil }
        state.writtenEnd = offset
        return state.writtenListener
    }

    /// A truncation: nothing past `offset` is written any more.
    func resetEnds(to offset: UInt64) {
        state.withLockedValue { state in
            state.visibleEnd = offset
            state.writtenEnd = offset
        }
    }

    var writtenEnd: UInt64 { state.withLockedValue { $0.writtenEnd } }
    func setWrittenListener(_ listener: (@Sendable () -> Void)?) { state.withLockedValue { $0.writtenListener = listener } }
    func publishFlushed(_ offset: UInt64) { state.withLockedValue { $0.flushedEnd = offset } }
    var visibleEnd: UInt64 { state.withLockedValue { $0.visibleEnd } }
    var flushedEnd: UInt64 { state.withLockedValue { $0.flushedEnd } }

    var lastCheckpoint: Checkpoint? {
        get { state.withLockedValue { $0.lastCheckpoint } }
        set { state.withLockedValue { $0.lastCheckpoint = newValue } }
    }

    // MARK: queues

    /// The index of `queue`, loaded from disk or (with `create`) made on first use.
    func queueIndex(for queue: QueueID, create: Bool) throws(SystemCallError) -> QueueIndex? {
        if let existing = state.withLockedValue({ $0.queues[queue] }) { return existing }
        guard create else { return nil }
        let index = QueueIndex(
            queue: queue, rootDirectory: configuration.queueIndexDirectory,
            entriesPerFile: configuration.queueIndexEntriesPerFile)
        return state.withLockedValue { state in
            if let raced = state.queues[queue] { return raced }
            state.queues[queue] = index
            return index
        }
    }

    /// The index of `queue`, made on first use.
    func queueIndex(creating queue: QueueID) throws(SystemCallError) -> QueueIndex {
        try queueIndex(for: queue, create: true)!
    }

    func register(_ index: QueueIndex) { state.withLockedValue { $0.queues[index.queue] = index } }
    func allQueueIndexes() -> [QueueIndex] { state.withLockedValue { Array($0.queues.values) } }
    var queueIDs: [QueueID] { state.withLockedValue { Array($0.queues.keys) } }

    // MARK: damage

    func addDamage(_ ranges: [DamagedRange]) {
        guard !ranges.isEmpty else { return }
        state.withLockedValue { state in
            for range in ranges where !state.damaged.contains(range) { state.damaged.append(range) }
        }
    }
    var damaged: [DamagedRange] { state.withLockedValue { $0.damaged } }
    func damage(covering offset: UInt64) -> DamagedRange? {
        state.withLockedValue { $0.damaged.first { offset >= $0.startOffset && offset < $0.endOffset } }
    }

    // MARK: statistics

    func recordBatch(records: Int, bytes: Int) {
        state.withLockedValue {
            $0.statistics.batches += 1
            $0.statistics.records += records
            $0.statistics.bytes += bytes
        }
    }
    func recordSync() { state.withLockedValue { $0.statistics.syncs += 1 } }
    var statistics: LogStatistics { state.withLockedValue { $0.statistics } }

    // MARK: pin and listeners

    func setPin(_ pin: (@Sendable () -> UInt64?)?, owner: String) { state.withLockedValue { $0.pins[owner] = pin } }
    func pinnedLowWatermark() -> UInt64? {
        state.withLockedValue { Array($0.pins.values) }.compactMap { $0() }.min()
    }

    func addAppendListener(_ listener: @escaping @Sendable ([QueueID]) -> Void) -> UInt64 {
        state.withLockedValue { state in
            state.nextListenerID += 1
            state.appendListeners[state.nextListenerID] = listener
            return state.nextListenerID
        }
    }
    func removeAppendListener(_ id: UInt64) { state.withLockedValue { _ = $0.appendListeners.removeValue(forKey: id) } }
    func notifyAppended(_ queues: [QueueID]) {
        let listeners = state.withLockedValue { Array($0.appendListeners.values) }
        for listener in listeners { listener(queues) }
    }
}
