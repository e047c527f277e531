import NIOConcurrencyHelpers

/// The index of one topic queue: fixed 24-byte entries in preallocated files of
/// `entriesPerFile` entries each, named by the 20-digit queue offset of their first entry.
/// Queue offset n resolves with one division and one mapped read.
///
/// Derived data: recovery rebuilds every entry past the checkpoint from the commit log.
/// The writer thread appends; readers see entries below `next` only, published under the lock.
final class QueueIndex: Sendable {
    let queue: QueueID
    let directory: String
    let entriesPerFile: Int

    private struct State {
        var files: [(base: UInt64, file: MappedFile)] = []
        /// First queue offset that still points at retained log data.
        var minOffset: UInt64 = 0
        /// One past the last published entry.
        var next: UInt64 = 0
        /// Entries written past `next` but not yet published (writer only).
        var written: UInt64 = 0
        /// The lowest offset written or zeroed since the last sync (nil: nothing to sync).
        var firstDirty: UInt64?
    }
    private let state: NIOLockedValueBox<State>

    init(queue: QueueID, rootDirectory: String, entriesPerFile: Int) {
        self.queue = queue
        self.directory = "\(rootDirectory)/\(queue.escapedTopic)/\(queue.queueId)"
        self.entriesPerFile = entriesPerFile
        self.state = NIOLockedValueBox(State())
    }

    var fileBytes: Int { entriesPerFile * QueueEntry.byteCount }

    // MARK: opening and recovery

    /// Opens the existing files and finds the written end (entries are contiguous; zeros follow).
    func load() throws(SystemCallError) {
        let bases = FileIO.listDirectory(directory).compactMap(Segment.parseFileName).sorted()
        var files: [(base: UInt64, file: MappedFile)] = []
        for base in bases {
            let file = try MappedFile(
                path: directory + "/" + Segment.fileName(base), size: fileBytes, create: false, writableMapping: true)
            files.append((base, file))
        }
        var next: UInt64 = 0
        if let last = files.last {
            var low = 0
            var high = last.file.size / QueueEntry.byteCount
            while low < high {  // first slot whose size field is 0
                let middle = (low + high) / 2
                if last.file.loadLittleEndian(UInt32.self, at: middle * QueueEntry.byteCount + 8) == 0 {
                    high = middle
                } else {
                    low = middle + 1
                }
            }
            next = last.base + UInt64(low)
        }
        let minOffset = files.first?.base ?? 0
        state.withLockedValue {
            $0.files = files
            $0.minOffset = minOffset
            $0.next = next
            $0.written = next
        }
    }

    /// Drops entries that point at or past `physicalOffset` (they will be rebuilt from the log).
    /// Returns how many were dropped.
    @discardableResult
    func truncate(atOrAfterPhysical physicalOffset: UInt64) -> Int {
        state.withLockedValue { state in
            var dropped = 0
            while state.next > state.minOffset {
                let offset = state.next - 1
                guard let (file, position) = QueueIndex.locate(offset, in: state.files, perFile: entriesPerFile)
                else { break }
                let entryPhysical = file.loadLittleEndian(UInt64.self, at: position)
                let size = file.loadLittleEndian(UInt32.self, at: position + 8)
                if size != QueueEntry.lostMarker && entryPhysical < physicalOffset { break }
                for byte in 0..<QueueEntry.byteCount { file.base.storeBytes(of: 0, toByteOffset: position + byte, as: UInt8.self) }
                state.next = offset
                dropped += 1
            }
            state.written = state.next
            if dropped > 0 { state.firstDirty = min(state.firstDirty ?? state.next, state.next) }
            return dropped
        }
    }

    /// Makes an index that never held an entry start at `offset` instead of 0, so a log whose
    /// older records are gone (retention, or a replica that starts from a snapshot of its leader
    /// at a later offset) indexes its first record where it stands rather than behind a run of
    /// lost-entry markers. Returns false (nothing changes) once the index has files or entries.
    func startIfUnused(at offset: UInt64) -> Bool {
        state.withLockedValue { state in
            guard state.files.isEmpty, state.written == state.minOffset, state.next == state.written else { return false }
            state.minOffset = offset
            state.next = offset
            state.written = offset
            return true
        }
    }

    // MARK: writing (writer thread only)

    /// Makes sure `count` more entries fit, creating files as needed; on failure nothing changes.
    func reserve(_ count: Int) throws(SystemCallError) {
        try reserve(upTo: nextWriteOffset + UInt64(count))
    }

    /// Makes sure every offset below `needed` has a slot, creating files as needed; on failure
    /// nothing changes. Returns the offset the files now reach, so the writer needs to call again
    /// only once a batch passes it (one lock per file instead of one per append).
    @discardableResult
    func reserve(upTo needed: UInt64) throws(SystemCallError) -> UInt64 {
        var end = state.withLockedValue { state in
            state.files.last.map { $0.base + UInt64(entriesPerFile) } ?? state.written
        }
        var created: [(base: UInt64, file: MappedFile)] = []
        while end < needed {
            if !FileIO.isDirectory(directory) { try FileIO.makeDirectory(directory) }
            let file = try MappedFile(
                path: directory + "/" + Segment.fileName(end), size: fileBytes, create: true, writableMapping: true)
            created.append((end, file))
            end += UInt64(entriesPerFile)
        }
        if !created.isEmpty { state.withLockedValue { $0.files.append(contentsOf: created) } }
        return end
    }

    /// The queue offset the next appended entry will get.
    var nextWriteOffset: UInt64 { state.withLockedValue { $0.written } }

    /// Writes an entry at the next offset (space must have been reserved). Not yet visible.
    func write(_ entry: QueueEntry) {
        state.withLockedValue { state in store(entry, in: &state) }
    }

    /// Writes a batch's entries in order under one lock (space must have been reserved). Not yet visible.
    func write(contentsOf entries: [QueueEntry]) {
        state.withLockedValue { state in
            for entry in entries { store(entry, in: &state) }
        }
    }

    private func store(_ entry: QueueEntry, in state: inout State) {
        precondition(entry.queueOffset == state.written, "queue index \(queue) written out of order")
        let (file, position) = QueueIndex.locate(state.written, in: state.files, perFile: entriesPerFile)!
        file.storeLittleEndian(entry.physicalOffset, at: position)
        file.storeLittleEndian(entry.size, at: position + 8)
        file.storeLittleEndian(entry.tagHash, at: position + 12)
        file.storeLittleEndian(entry.storeTimestampMs, at: position + 16)
        state.firstDirty = min(state.firstDirty ?? state.written, state.written)
        state.written += 1
    }

    /// Makes every written entry visible to readers.
    func publish() { state.withLockedValue { $0.next = $0.written } }

    /// Flushes the mapped pages of every file written since the last sync.
    func syncIfDirty() throws(SystemCallError) {
        let perFile = UInt64(entriesPerFile)
        let files = state.withLockedValue { state -> [MappedFile] in
            guard let firstDirty = state.firstDirty else { return [] }
            state.firstDirty = nil
            return state.files.filter { $0.base + perFile > firstDirty }.map(\.file)
        }
        for file in files { try file.syncMapping() }
    }

    // MARK: reading

    var bounds: (min: UInt64, next: UInt64) { state.withLockedValue { ($0.minOffset, $0.next) } }

    func entries(from offset: UInt64, maxCount: Int) -> [QueueEntry] {
        state.withLockedValue { state in
            var result: [QueueEntry] = []
            var current = max(offset, state.minOffset)
            while current < state.next && result.count < maxCount {
                guard let (file, position) = QueueIndex.locate(current, in: state.files, perFile: entriesPerFile)
                else { break }
                result.append(
                    QueueEntry(
                        queueOffset: current,
                        physicalOffset: file.loadLittleEndian(UInt64.self, at: position),
                        size: file.loadLittleEndian(UInt32.self, at: position + 8),
                        tagHash: file.loadLittleEndian(UInt32.self, at: position + 12),
                        storeTimestampMs: file.loadLittleEndian(Int64.self, at: position + 16)))
                current += 1
            }
            return result
        }
    }

    /// The first queue offset whose store time is at or after `timestampMs` (binary search over the
    /// entries' store times, which grow with the offset): the "from timestamp" time index.
    func offset(forTimestamp timestampMs: Int64) -> UInt64 {
        state.withLockedValue { state in
            var low = state.minOffset
            var high = state.next
            while low < high {
                let middle = low + (high - low) / 2
                guard let (file, position) = QueueIndex.locate(middle, in: state.files, perFile: entriesPerFile)
                else { break }
                if file.loadLittleEndian(Int64.self, at: position + 16) < timestampMs {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low
        }
    }

    // MARK: retention

    /// Deletes index files that start past the end (after a replica's truncation): `load` finds
    /// the end in the last file, so an all-zero later file would otherwise pass for the end and
    /// the zeroed entries before it for written ones.
    func dropFilesPastEnd() {
        let removed: [MappedFile] = state.withLockedValue { state in
            let end = max(state.next, state.written)
            let gone = state.files.filter { $0.base > end }.map(\.file)
            state.files.removeAll { $0.base > end }
            return gone
        }
        for file in removed { try? FileIO.remove(file.path) }
    }

    /// Advances the minimum offset past entries pointing below `physicalOffset` and deletes index
    /// files that lie wholly below it.
    func dropEntries(belowPhysical physicalOffset: UInt64) {
        let removed: [MappedFile] = state.withLockedValue { state in
            var low = state.minOffset
            var high = state.next
            while low < high {
                let middle = low + (high - low) / 2
                guard let (file, position) = QueueIndex.locate(middle, in: state.files, perFile: entriesPerFile)
                else { break }
                if file.loadLittleEndian(UInt64.self, at: position) < physicalOffset {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            state.minOffset = low
            var removed: [MappedFile] = []
            while state.files.count > 1, state.files[0].base + UInt64(entriesPerFile) <= low {
                removed.append(state.files.removeFirst().file)
            }
            return removed
        }
        for file in removed { try? FileIO.remove(file.path) }
    }

    private static func locate(_ offset: UInt64, in files: [(base: UInt64, file: MappedFile)], perFile: Int)
        -> (MappedFile, Int)?
    {
        guard let first = files.first, offset >= first.base else { return nil }
        let index = Int((offset - first.base) / UInt64(perFile))
        guard index < files.count else { return nil }
        let (base, file) = files[index]
        guard offset >= base, offset < base + UInt64(perFile) else { return nil }
        return (file, Int(offset - base) * QueueEntry.byteCount)
    }
}
