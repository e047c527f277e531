/// How far the derived indexes are known durable: every record below `logOffset` is on disk and
/// has its queue and key index entries on disk. Recovery starts verifying the log here, so
/// start-up time grows with what lies past the checkpoint, not with the size of the log.
///
/// File `checkpoint` (little-endian, 48 bytes): magic "SLCP", u32 version, u64 log offset,
/// u64 key-index file sequence, u64 key-index entry count, i64 written-at (ms), u32 CRC-32C of the
/// preceding 40 bytes, u32 padding. Written to a temp file, synced and renamed.
struct Checkpoint: Sendable, Equatable {
    static let magic: UInt32 = 0x5043_4C53  // "SLCP"
    static let fileName = "checkpoint"

    var logOffset: UInt64
    var keyIndexSequence: UInt64
    var keyIndexCount: UInt64
    var writtenAtMs: Int64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(Checkpoint.magic)
        append(UInt32(1))
        append(logOffset)
        append(keyIndexSequence)
        append(keyIndexCount)
        append(writtenAtMs)
        let crc = bytes.withUnsafeBytes { Checksum.crc32c($0) }
        append(crc)
        append(UInt32(0))
        return bytes
    }

    init(logOffset: UInt64, keyIndexSequence: UInt64, keyIndexCount: UInt64, writtenAtMs: Int64) {
        self.logOffset = logOffset
        self.keyIndexSequence = keyIndexSequence
        self.keyIndexCount = keyIndexCount
        self.writtenAtMs = writtenAtMs
    }

    /// Nil when the bytes are missing, short, or fail the checksum.
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 48 else { return nil }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        guard load(0, UInt32.self) == Checkpoint.magic, load(4, UInt32.self) == 1 else { return nil }
        let crc = bytes.withUnsafeBytes { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<40])) }
        guard crc == load(40, UInt32.self) else { return nil }
        logOffset = load(8, UInt64.self)
        keyIndexSequence = load(16, UInt64.self)
        keyIndexCount = load(24, UInt64.self)
        writtenAtMs = load(32, Int64.self)
    }

    static func load(directory: String) -> Checkpoint? {
        FileIO.readWholeFile(directory + "/" + fileName).flatMap(Checkpoint.init(decoding:))
    }

    func save(directory: String) throws(SystemCallError) {
        try FileIO.writeAtomically(encoded(), to: directory + "/" + Checkpoint.fileName)
    }
}
