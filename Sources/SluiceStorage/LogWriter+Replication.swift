import Logging
import Foundation
import NIOCore

/// The writer thread's side of replication: verbatim appends of a leader's records and
/// truncation of a divergent tail. Both run as maintenance work between batches, so they never
/// interleave with a local batch.
extension LogWriter {
    /// Writes a verified chunk at the current end (writer thread only).
    func appendReplicated(_ pending: PendingReplicatedChunk) -> Result<UInt64, StorageError> {
        if let failure { return .failure(failure) }
        let chunk = pending.chunk
        guard chunk.startOffset == writePosition else {
            return .failure(
                StorageError(
                    .replicaMismatch, "replicated chunk starts at offset \(chunk.startOffset); this log ends at \(writePosition)"))
        }
        do throws(StorageError) {
            if chunk.isSegmentEnd {
                guard chunk.nextOffset == activeSegment.endOffset else {
                    throw StorageError(
                        .replicaMismatch,
                        "leader's segment ends at \(chunk.nextOffset); this log's active segment ends at \(activeSegment.endOffset)")
                }
                try roll(writingBlank: true)
                shared.publishEnd(writePosition)
                return .success(writePosition)
            }
            if writePosition == activeSegment.endOffset { try roll(writingBlank: false) }
            let size = chunk.bytes.readableBytes
            guard writePosition + UInt64(size) <= activeSegment.endOffset else {
                throw StorageError(
                    .replicaMismatch,
                    "replicated chunk [\(chunk.startOffset), \(chunk.nextOffset)) crosses the segment end \(activeSegment.endOffset)")
            }
            let segment = activeSegment
            do throws(SystemCallError) {
                try chunk.bytes.withUnsafeReadableBytes { bytes throws(SystemCallError) in
                    try FileIO.pwriteAll(
                        segment.file.fd, bytes, at: Int(writePosition - segment.baseOffset), path: segment.path)
                }
                if !unsyncedSegments.contains(where: { $0 === segment }) { unsyncedSegments.append(segment) }
                if configuration.flush == .sync { try flushLog() }
            } catch {
                let failure = error.storageError("cannot write replicated records")
                if error.call == "fdatasync" { self.failure = failure }
                throw failure
            }
            writePosition += UInt64(size)
            shared.publishEnd(writePosition)
            let indexer = Recovery(configuration: configuration, logger: logger)
            var touched: [QueueID: QueueIndex] = [:]
            do throws(SystemCallError) {
                for header in pending.headers {
                    try indexer.reindex(header, shared: shared)
                    let primary = QueueID(topic: header.topic, queueId: header.queueId)
                    touched[primary] = try shared.queueIndex(creating: primary)
                    if let secondary = header.secondaryQueue { touched[secondary] = try shared.queueIndex(creating: secondary) }
                }
            } catch {
                // The records are stored; their index entries come back at the next recovery.
                logger.error("cannot index replicated records", metadata: ["error": "\(error)"])
            }
            for index in touched.values { index.publish() }
            shared.recordBatch(records: pending.headers.count, bytes: size)
            if !touched.isEmpty { shared.notifyAppended(Array(touched.keys)) }
            return .success(writePosition)
        } catch {
            return .failure(error)
        }
    }

    /// Moves to the next segment, writing the 8-byte blank header first when asked and room allows.
    private func roll(writingBlank: Bool) throws(StorageError) {
        let remaining = Int(activeSegment.endOffset - writePosition)
        if writingBlank && remaining >= RecordFormat.blankHeaderSize {
            var header = ByteBuffer()
            header.writeInteger(RecordFormat.blankMagic, endianness: .little)
            header.writeInteger(UInt32(remaining), endianness: .little)
            let segment = activeSegment
            do throws(SystemCallError) {
                try header.withUnsafeReadableBytes { bytes throws(SystemCallError) in
                    try FileIO.pwriteAll(segment.file.fd, bytes, at: Int(writePosition - segment.baseOffset), path: segment.path)
                }
                if !unsyncedSegments.contains(where: { $0 === segment }) { unsyncedSegments.append(segment) }
            } catch {
                throw error.storageError("cannot write a blank filler")
            }
        }
        let next = try nextSegment()
        activeSegment = next
        writePosition = next.baseOffset
    }

    /// Cuts the log back to `offset` (writer thread only).
    func truncate(to offset: UInt64) -> Result<Void, StorageError> {
        if let failure { return .failure(failure) }
        guard offset < writePosition else { return .success(()) }
        guard offset >= shared.minOffset else {
            return .failure(
                StorageError(.offsetOutOfRange, "cannot truncate to \(offset): the log starts at \(shared.minOffset)"))
        }
        // The segment that keeps `offset` as its end of data: the one containing it, or the one
        // ending exactly there.
        guard let target = shared.segment(containing: offset) ?? shared.segments.last(where: { $0.endOffset == offset })
        else {
            return .failure(StorageError(.offsetOutOfRange, "no segment holds offset \(offset)"))
        }
        // Cutting inside a record would leave half of it as the log's last record.
        guard shared.isRecordBoundary(offset) else {
            return .failure(StorageError(.replicaMismatch, "cannot truncate to \(offset): no record starts there"))
        }
        do throws(SystemCallError) {
            // Every index is published below; deferred appends past the cut go with the tail.
            unsyncedDeferred = nil
            shared.resetEnds(to: offset)
            for index in shared.allQueueIndexes() {
                index.truncate(atOrAfterPhysical: offset)
                index.dropFilesPastEnd()
                index.publish()
            }
            for segment in shared.removeSegments(startingAfter: target.baseOffset) {
                unsyncedSegments.removeAll { $0 === segment }
                try FileIO.remove(segment.path)
            }
            try FileIO.syncDirectory(configuration.commitLogDirectory)
            let from = Int(offset - target.baseOffset)
            try FileIO.zeroRange(target.file.fd, offset: from, length: target.size - from, path: target.path)
            try target.file.syncData()
            unsyncedSegments.removeAll { $0 === target }
            activeSegment = target
            let dropped = writePosition - offset
            writePosition = offset
            shared.publishFlushed(offset)
            try writeCheckpoint()
            logger.warning("truncated the log for replication", metadata: ["offset": "\(offset)", "bytes.dropped": "\(dropped)"])
            return .success(())
        } catch {
            let failure = error.storageError("cannot truncate the log to \(offset)")
            self.failure = failure
            return .failure(failure)
        }
    }
}
