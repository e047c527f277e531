/// Walks records across segments, verifying each: used by recovery (from the checkpoint to the
/// end) and by the scrubber (sealed data behind the checkpoint).
enum LogScan {
    struct Outcome {
        /// Where the last valid record ends (the log's end when scanning to the end).
        var end: UInt64
        var damaged: [DamagedRange] = []
        var truncatedTail: (offset: UInt64, bytesDropped: Int, reason: String)?
        var records = 0
    }

    /// Scans `[from, until)` (or to the end of the last segment). A bad record in the last segment
    /// ends the scan there when `stopAtDamageInLastSegment` (a torn tail); anywhere else the scan
    /// resynchronises at the next valid record and reports the bytes between as damaged.
    static func scan(
        _ segments: [Segment], from: UInt64, until: UInt64? = nil, stopAtDamageInLastSegment: Bool,
        visit: (RecordHeader) -> Void
    ) -> Outcome {
        var outcome = Outcome(end: from)
        guard let firstIndex = segments.firstIndex(where: { $0.contains(from) || $0.baseOffset >= from }) else {
            return outcome
        }
        // Segments after the last one holding any data are spares made by a roll whose batch never
        // reached them (a kill during the write): the tail is in the last segment with data.
        var lastWithData = segments.count - 1
        while lastWithData > firstIndex && isEmpty(segments[lastWithData]) { lastWithData -= 1 }
        segmentLoop: for index in firstIndex...lastWithData {
            let segment = segments[index]
            let isLast = index == lastWithData
            let bytes = segment.file.bytes
            var position = from > segment.baseOffset ? Int(from - segment.baseOffset) : 0
            let limit = until.map { min(bytes.count, Int(clamping: Int64($0) - Int64(segment.baseOffset))) } ?? bytes.count
            if limit <= 0 { break }
            while position < limit {
                let physical = segment.baseOffset + UInt64(position)
                switch RecordCodec.frame(in: bytes, at: position, physicalOffset: physical) {
                case .record(let header):
                    visit(header)
                    outcome.records += 1
                    position += header.size
                    outcome.end = segment.baseOffset + UInt64(position)
                case .blank(let size):
                    position += size
                    outcome.end = segment.endOffset
                    continue segmentLoop
                case .end:
                    if isLast { break segmentLoop }
                    // Zeros in a sealed segment: the benign case is a blank filler that never
                    // reached the disk; records after them mean a hole, which is damage.
                    if let resume = nextValidRecord(in: segment, after: position) {
                        outcome.damaged.append(
                            DamagedRange(
                                segmentPath: segment.path, startOffset: physical,
                                endOffset: segment.baseOffset + UInt64(resume), reason: "zeroed bytes before valid records"))
                        position = resume
                        continue
                    }
                    outcome.end = segment.endOffset
                    continue segmentLoop
                case .corrupt(let reason):
                    if isLast && stopAtDamageInLastSegment {
                        let dropped = nonZeroExtent(bytes, from: position)
                        outcome.truncatedTail = (physical, dropped, reason)
                        break segmentLoop
                    }
                    let resume = nextValidRecord(in: segment, after: position) ?? bytes.count
                    outcome.damaged.append(
                        DamagedRange(
                            segmentPath: segment.path, startOffset: physical,
                            endOffset: segment.baseOffset + UInt64(resume), reason: reason))
                    position = resume
                    if resume >= bytes.count { outcome.end = segment.endOffset }
                }
            }
        }
        return outcome
    }

    static func isEmpty(_ segment: Segment) -> Bool {
        segment.file.bytes.count < 8 || segment.file.bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == 0
    }

    /// The next position after `position` where a record passes every check (its self-offset
    /// makes a false match practically impossible).
    static func nextValidRecord(in segment: Segment, after position: Int) -> Int? {
        let bytes = segment.file.bytes
        var candidate = position + 1
        while candidate + RecordFormat.headerSize <= bytes.count {
            if bytes[candidate] == 0x53,  // "S" of the magic
                bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self) == RecordFormat.magic.littleEndian,
                case .record = RecordCodec.frame(
                    in: bytes, at: candidate, physicalOffset: segment.baseOffset + UInt64(candidate))
            {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    /// How many bytes from `position` up to the last non-zero byte of the segment (what a torn
    /// tail's truncation throws away).
    static func nonZeroExtent(_ bytes: UnsafeRawBufferPointer, from position: Int) -> Int {
        // Bounded: a torn tail is at most one batch, and a preallocated segment is mostly zeros.
        var last = min(bytes.count, position + (64 << 20)) - 1
        while last >= position && bytes[last] == 0 { last -= 1 }
        return max(0, last + 1 - position)
    }
}
