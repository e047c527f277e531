import NIOConcurrencyHelpers

/// A hash index from message keys and message ids to commit-log offsets, in files of fixed
/// capacity named by a 20-digit sequence number (like RocketMQ's IndexFile).
///
/// File layout (little-endian): a 64-byte header (magic "SLKI", u32 version, u32 slot count,
/// u32 capacity, u32 entry count, padding), then `slotCount` u32 slots holding entry number + 1 of
/// the newest entry in that bucket (0 = empty), then `capacity` entries of 24 bytes: u32 key hash,
/// u32 previous entry number + 1 in the same bucket, u64 physical offset, i64 store time (ms).
///
/// Lookups return candidate offsets; the caller confirms each against the record, so hash
/// collisions cost a read, never a wrong answer. Derived data: recovery rebuilds the active file.
final class KeyIndex: Sendable {
    static let magic: UInt32 = 0x494B_4C53  // "SLKI"
    static let headerSize = 64
    static let entrySize = 24

    let directory: String
    let capacity: Int
    let slotCount: Int

    private struct State {
        var files: [(sequence: UInt64, file: MappedFile)] = []
        var count = 0  // entries in the active (last) file
        /// Files written since the last sync (a roll can leave the previous file dirty too).
        var dirty: [MappedFile] = []
    }
    private let state: NIOLockedValueBox<State>

    init(directory: String, capacity: Int) {
        self.directory = directory
        // Room for one record's keys and id in any one file.
        self.capacity = max(capacity, 2 * (RecordFormat.maxKeys + 1))
        self.slotCount = max(16, capacity / 2)
        self.state = NIOLockedValueBox(State())
    }

    var fileBytes: Int { KeyIndex.headerSize + slotCount * 4 + capacity * KeyIndex.entrySize }

    static func hash(_ key: String) -> UInt32 { Checksum.crc32c(key) }

    // MARK: opening and recovery

    /// Opens existing files. With `checkpoint` (sequence, count) the active file is cut back to
    /// the checkpointed count and its slots rebuilt; files newer than the checkpoint are deleted.
    func load(checkpoint: (sequence: UInt64, count: Int)?) throws(SystemCallError) {
        try FileIO.makeDirectory(directory)
        var sequences = FileIO.listDirectory(directory).compactMap(Segment.parseFileName).sorted()
        if let checkpoint {
            for sequence in sequences where sequence > checkpoint.sequence {
                try FileIO.remove(directory + "/" + Segment.fileName(sequence))
            }
            sequences.removeAll { $0 > checkpoint.sequence }
        } else {
            for sequence in sequences { try FileIO.remove(directory + "/" + Segment.fileName(sequence)) }
            sequences = []
        }
        var files: [(sequence: UInt64, file: MappedFile)] = []
        for sequence in sequences {
            let file = try MappedFile(
                path: directory + "/" + Segment.fileName(sequence), size: fileBytes, create: false,
                writableMapping: true)
            guard file.size == fileBytes, file.loadLittleEndian(UInt32.self, at: 0) == KeyIndex.magic else {
                try FileIO.remove(file.path)  // a torn or foreign file: derived data, drop it
                continue
            }
            files.append((sequence, file))
        }
        var count = 0
        if let active = files.last {
            let recorded = Int(active.file.loadLittleEndian(UInt32.self, at: 16))
            count = min(recorded, checkpoint.map { $0.sequence == active.sequence ? $0.count : recorded } ?? 0)
            if count != recorded { rebuildSlots(active.file, count: count) }
        }
        state.withLockedValue {
            $0.files = files
            $0.count = count
            $0.dirty = files.last.map { [$0.file] } ?? []  // its slots may have been rebuilt
        }
    }

    /// Rewrites the slot table and zeroes entries past `count`: entries beyond it may be torn.
    private func rebuildSlots(_ file: MappedFile, count: Int) {
        let slotsStart = KeyIndex.headerSize
        memset(file.base + slotsStart, 0, slotCount * 4)
        let entriesStart = slotsStart + slotCount * 4
        memset(file.base + entriesStart + count * KeyIndex.entrySize, 0, (capacity - count) * KeyIndex.entrySize)
        for number in 0..<count {
            let position = entriesStart + number * KeyIndex.entrySize
            let hash = file.loadLittleEndian(UInt32.self, at: position)
            let slot = slotsStart + Int(hash % UInt32(slotCount)) * 4
            file.storeLittleEndian(file.loadLittleEndian(UInt32.self, at: slot), at: position + 4)
            file.storeLittleEndian(UInt32(number + 1), at: slot)
        }
        file.storeLittleEndian(UInt32(count), at: 16)
    }

    // MARK: writing (writer thread only)

    /// Makes sure `count` more entries fit in the active file, starting a new file if not.
    func reserve(_ count: Int) throws(SystemCallError) {
        precondition(count <= capacity, "key index batch larger than a file")
        let (needsFile, nextSequence) = state.withLockedValue { state in
            (state.files.isEmpty || state.count + count > capacity, (state.files.last?.sequence ?? 0) + 1)
        }
        guard needsFile else { return }
        let file = try MappedFile(
            path: directory + "/" + Segment.fileName(nextSequence), size: fileBytes, create: true, writableMapping: true)
        file.storeLittleEndian(KeyIndex.magic, at: 0)
        file.storeLittleEndian(UInt32(1), at: 4)
        file.storeLittleEndian(UInt32(slotCount), at: 8)
        file.storeLittleEndian(UInt32(capacity), at: 12)
        file.storeLittleEndian(UInt32(0), at: 16)
        state.withLockedValue {
            $0.files.append((nextSequence, file))
            $0.count = 0
            $0.dirty.append(file)
        }
    }

    func insert(hash: UInt32, physicalOffset: UInt64, storeTimestampMs: Int64) {
        state.withLockedValue { state in
            store(hash: hash, physicalOffset: physicalOffset, storeTimestampMs: storeTimestampMs, in: &state)
        }
    }

    /// Inserts a batch's keys under one lock (space must have been reserved).
    func insert(contentsOf entries: [(hash: UInt32, physicalOffset: UInt64)], storeTimestampMs: Int64) {
        guard !entries.isEmpty else { return }
        state.withLockedValue { state in
            for (hash, physicalOffset) in entries {
                store(hash: hash, physicalOffset: physicalOffset, storeTimestampMs: storeTimestampMs, in: &state)
            }
        }
    }

    private func store(hash: UInt32, physicalOffset: UInt64, storeTimestampMs: Int64, in state: inout State) {
        let file = state.files[state.files.count - 1].file
        let number = state.count
        precondition(number < capacity, "key index insert without reserve")
        let slot = KeyIndex.headerSize + Int(hash % UInt32(slotCount)) * 4
        let position = KeyIndex.headerSize + slotCount * 4 + number * KeyIndex.entrySize
        file.storeLittleEndian(hash, at: position)
        file.storeLittleEndian(file.loadLittleEndian(UInt32.self, at: slot), at: position + 4)
        file.storeLittleEndian(physicalOffset, at: position + 8)
        file.storeLittleEndian(storeTimestampMs, at: position + 16)
        file.storeLittleEndian(UInt32(number + 1), at: slot)
        state.count = number + 1
        file.storeLittleEndian(UInt32(state.count), at: 16)
        if state.dirty.last !== file { state.dirty.append(file) }
    }

    /// The active file's sequence and entry count, for the checkpoint.
    var position: (sequence: UInt64, count: Int) {
        state.withLockedValue { ($0.files.last?.sequence ?? 0, $0.count) }
    }

    func syncIfDirty() throws(SystemCallError) {
        let files = state.withLockedValue { state -> [MappedFile] in
            defer { state.dirty = [] }
            return state.dirty
        }
        for file in files { try file.syncMapping() }
    }

    // MARK: reading

    /// Offsets of records whose key hash matches, newest first, at most `limit`.
    func candidates(hash: UInt32, limit: Int) -> [UInt64] {
        state.withLockedValue { state in
            var result: [UInt64] = []
            for (index, entry) in state.files.enumerated().reversed() {
                let file = entry.file
                let count =
                    index == state.files.count - 1 ? state.count : Int(file.loadLittleEndian(UInt32.self, at: 16))
                let slot = KeyIndex.headerSize + Int(hash % UInt32(slotCount)) * 4
                var number = Int(file.loadLittleEndian(UInt32.self, at: slot))
                var steps = 0
                while number > 0, number <= count, steps < capacity, result.count < limit {
                    let position = KeyIndex.headerSize + slotCount * 4 + (number - 1) * KeyIndex.entrySize
                    if file.loadLittleEndian(UInt32.self, at: position) == hash {
                        result.append(file.loadLittleEndian(UInt64.self, at: position + 8))
                    }
                    let previous = Int(file.loadLittleEndian(UInt32.self, at: position + 4))
                    if previous >= number { break }  // chains only point backwards
                    number = previous
                    steps += 1
                }
                if result.count >= limit { break }
            }
            return result
        }
    }

    // MARK: retention

    /// Deletes sealed files whose newest entry points below `physicalOffset`.
    func dropFiles(belowPhysical physicalOffset: UInt64) {
        let removed: [MappedFile] = state.withLockedValue { state in
            var removed: [MappedFile] = []
            while state.files.count > 1 {
                let file = state.files[0].file
                let count = Int(file.loadLittleEndian(UInt32.self, at: 16))
                let lastPosition = KeyIndex.headerSize + slotCount * 4 + max(0, count - 1) * KeyIndex.entrySize
                guard count == 0 || file.loadLittleEndian(UInt64.self, at: lastPosition + 8) < physicalOffset
                else { break }
                removed.append(state.files.removeFirst().file)
            }
            return removed
        }
        for file in removed { try? FileIO.remove(file.path) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
