/// One commit-log file: a preallocated, fixed-size file named by the 20-digit physical offset of
/// its first byte (so the log is the concatenation of its segments in name order).
final class Segment: Sendable {
    let baseOffset: UInt64
    let file: MappedFile

    var size: Int { file.size }
    var endOffset: UInt64 { baseOffset + UInt64(file.size) }
    var path: String { file.path }

    init(directory: String, baseOffset: UInt64, size: Int, create: Bool) throws(SystemCallError) {
        self.baseOffset = baseOffset
        self.file = try MappedFile(
            path: directory + "/" + Segment.fileName(baseOffset), size: size, create: create, writableMapping: false)
    }

    func contains(_ physicalOffset: UInt64) -> Bool { physicalOffset >= baseOffset && physicalOffset < endOffset }

    static func fileName(_ offset: UInt64) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    static func parseFileName(_ name: String) -> UInt64? {
        guard name.count == 20, name.allSatisfy(\.isASCII), name.allSatisfy(\.isNumber) else { return nil }
        return UInt64(name)
    }
}

/// The segments currently in the log, oldest first; shared by the writer (which adds and retires
/// segments) and readers (which look one up and keep a reference while they copy).
struct SegmentTable: Sendable {
    var segments: [Segment] = []

    func segment(containing offset: UInt64) -> Segment? {
        var low = 0
        var high = segments.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let candidate = segments[middle]
            if offset < candidate.baseOffset {
                high = middle - 1
            } else if offset >= candidate.endOffset {
                low = middle + 1
            } else {
                return candidate
            }
        }
        return nil
    }

    var minOffset: UInt64 { segments.first?.baseOffset ?? 0 }
}
