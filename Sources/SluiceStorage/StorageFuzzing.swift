import Logging
import NIOCore

/// Entry points for the libFuzzer harness (`Sources/sluice-fuzz-storage`): the record decoder
/// and recovery, fed arbitrary bytes. Not an API for anything else (`@_spi(Fuzzing)`).
@_spi(Fuzzing)
public enum StorageFuzzing {
    /// Runs the record decoder over `bytes` three ways: as found (framing, CRC and self-offset
    /// checks first), forced past the checks (the header and body parsers alone), and "sealed"
    /// (size, offset and CRC patched in so the checks pass and the parsers see the rest as is).
    /// Returns how many records decoded, so the work is not optimised away.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Int {
        var decoded = 0
        let allocator = ByteBufferAllocator()
        // 1. As found: walk frames like a reader of a segment would.
        var position = 0
        while position < bytes.count {
            guard case .record(let header) = RecordCodec.frame(in: bytes, at: position, physicalOffset: UInt64(position))
            else { break }
            let record = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + header.size)])
            if RecordCodec.decode(record, header: header, allocator: allocator) != nil { decoded += 1 }
            position += header.size
        }
        guard bytes.count >= RecordFormat.headerSize else { return decoded }
        // 2. Past the checks: the parsers alone must never read out of bounds or trap.
        if let header = RecordHeader(bytes), header.propertiesStart <= bytes.count,
            RecordCodec.decode(bytes, header: header, allocator: allocator) != nil
        {
            decoded += 1
        }
        // 3. Sealed: the checks pass, so everything after them sees hostile variable fields.
        var sealed = Array(bytes)
        sealed.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: RecordFormat.magic.littleEndian, toByteOffset: RecordFormat.Field.magic, as: UInt32.self)
            raw.storeBytes(of: UInt32(raw.count).littleEndian, toByteOffset: RecordFormat.Field.size, as: UInt32.self)
            raw.storeBytes(of: RecordFormat.version, toByteOffset: RecordFormat.Field.version, as: UInt8.self)
            RecordCodec.seal(raw, physicalOffset: 0, queueOffset: 0, storeTimestampMs: 0)
        }
        sealed.withUnsafeBytes { raw in
            if case .record(let header) = RecordCodec.frame(in: raw, at: 0, physicalOffset: 0),
                RecordCodec.decode(raw, header: header, allocator: allocator) != nil
            {
                decoded += 1
            }
        }
        return decoded
    }

    /// Recovers a data folder whose only segment holds `segment` (padded to the 4 KiB minimum),
    /// optionally with a checkpoint file and an abort marker, then reads back every record the
    /// rebuilt indexes point at. Any error is a typed refusal; a trap is a bug.
    /// Returns the records read.
    public static func recover(
        directory: String, segment: [UInt8], checkpoint: [UInt8]?, unclean: Bool
    ) -> Int {
        FileIO.removeTree(directory)
        defer { FileIO.removeTree(directory) }
        var configuration = CommitLogConfiguration(directory: directory)
        let size = max(4096, (segment.count + 4095) / 4096 * 4096)
        configuration.segmentSizeBytes = size
        configuration.queueIndexEntriesPerFile = 1024
        configuration.keyIndexEntriesPerFile = 1024
        do throws(SystemCallError) {
            try FileIO.makeDirectory(directory)
            try FileIO.makeDirectory(configuration.commitLogDirectory)
            try FileIO.writeAtomically(
                segment + [UInt8](repeating: 0, count: size - segment.count),
                to: configuration.commitLogDirectory + "/" + Segment.fileName(0))
            if let checkpoint { try FileIO.writeAtomically(checkpoint, to: directory + "/" + Checkpoint.fileName) }
            if unclean { try FileIO.writeAtomically(Array("running\n".utf8), to: configuration.abortMarkerPath) }
        } catch {
            return 0
        }
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        // The real open: lock, recovery (scan, torn-tail cut, index rebuild), writer and scrubber.
        guard let log = try? CommitLog.openBlocking(configuration, logger: logger) else { return 0 }
        var read = 0
        for queue in log.queues {
            let bounds = log.queueBounds(queue)
            var offset = bounds.min
            while offset < bounds.next {
                let entries = log.queueEntries(queue, from: offset, maxCount: 256)
                if entries.isEmpty { break }
                for entry in entries {
                    offset = entry.queueOffset + 1
                    if (try? log.read(entry, of: queue)) != nil { read += 1 }
                }
            }
        }
        // The key index is rebuilt too: look one up (not counted).
        _ = log.lookup(key: "k", limit: 4)
        log.closeBlocking()
        return read
    }
}
