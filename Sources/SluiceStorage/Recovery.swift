import Logging

/// Opens a data folder's log after a clean or unclean stop.
///
/// From the checkpoint forward it verifies each record (framing, CRC-32C, self-offset), cuts a
/// torn tail off the active segment, and rebuilds the index entries past the checkpoint; behind
/// the checkpoint it trusts the indexes (the scrubber verifies that data in the background).
/// Without a valid checkpoint every index is rebuilt from the whole log.
struct Recovery {
    let configuration: CommitLogConfiguration
    let logger: Logger

    struct Result {
        var shared: LogShared
        var writePosition: UInt64
        var activeSegment: Segment
        var report: RecoveryReport
        var checkpoint: Checkpoint
    }

    func run() throws(StorageError) -> Result {
        let started = ContinuousClock.now
        let directory = configuration.directory
        do throws(SystemCallError) {
            try FileIO.makeDirectory(configuration.commitLogDirectory)
            try FileIO.makeDirectory(configuration.queueIndexDirectory)
            try FileIO.makeDirectory(configuration.keyIndexDirectory)
        } catch {
            throw error.storageError("cannot create the data folder layout under \(directory)")
        }
        let wasClean = !FileIO.exists(configuration.abortMarkerPath)

        // Segments, oldest first; a missing segment in the middle is lost data, reported.
        var segments: [Segment] = []
        var damaged: [DamagedRange] = []
        let bases = FileIO.listDirectory(configuration.commitLogDirectory).compactMap(Segment.parseFileName).sorted()
        do throws(SystemCallError) {
            for base in bases {
                let segment = try Segment(
                    directory: configuration.commitLogDirectory, baseOffset: base, size: 0, create: false)
                if let previous = segments.last, previous.endOffset != base {
                    damaged.append(
                        DamagedRange(
                            segmentPath: segment.path, startOffset: previous.endOffset, endOffset: base,
                            reason: "segment files missing between \(previous.endOffset) and \(base)"))
                }
                segments.append(segment)
            }
            if segments.isEmpty {
                segments.append(
                    try Segment(
                        directory: configuration.commitLogDirectory, baseOffset: 0,
                        size: configuration.segmentSizeBytes, create: true))
            }
        } catch {
            throw error.storageError("cannot open the commit-log segments in \(configuration.commitLogDirectory)")
        }
        let minOffset = segments[0].baseOffset
        let logEnd = segments[segments.count - 1].endOffset

        var checkpoint = Checkpoint.load(directory: directory)
        if let found = checkpoint, found.logOffset < minOffset || found.logOffset > logEnd {
            logger.warning("checkpoint outside the log; rebuilding every index", metadata: ["checkpoint": "\(found.logOffset)"])
            checkpoint = nil
        }
        if checkpoint == nil {
            FileIO.removeTree(configuration.queueIndexDirectory)
            FileIO.removeTree(configuration.keyIndexDirectory)
        }
        let startOffset = checkpoint?.logOffset ?? minOffset

        let keyIndex = KeyIndex(directory: configuration.keyIndexDirectory, capacity: configuration.keyIndexEntriesPerFile)
        let shared = LogShared(configuration: configuration, keyIndex: keyIndex)
        shared.setSegments(segments)
        do throws(SystemCallError) {
            try FileIO.makeDirectory(configuration.queueIndexDirectory)
            try keyIndex.load(checkpoint: checkpoint.map { ($0.keyIndexSequence, Int($0.keyIndexCount)) })
            for escaped in FileIO.listDirectory(configuration.queueIndexDirectory) {
                guard let topic = QueueID.unescapeTopic(escaped) else { continue }
                for queueName in FileIO.listDirectory(configuration.queueIndexDirectory + "/" + escaped) {
                    guard let queueId = UInt32(queueName) else { continue }
                    let index = QueueIndex(
                        queue: QueueID(topic: topic, queueId: queueId), rootDirectory: configuration.queueIndexDirectory,
                        entriesPerFile: configuration.queueIndexEntriesPerFile)
                    try index.load()
                    index.truncate(atOrAfterPhysical: startOffset)
                    index.dropEntries(belowPhysical: minOffset)
                    shared.register(index)
                }
            }
        } catch {
            throw error.storageError("cannot open the indexes under \(directory)/index")
        }

        // Verify forward from the checkpoint and re-index what is there.
        var rebuilt = 0
        var indexFailure: SystemCallError?
        let outcome = LogScan.scan(segments, from: startOffset, stopAtDamageInLastSegment: true) { header in
            do throws(SystemCallError) {
                try reindex(header, shared: shared)
                rebuilt += 1
            } catch {
                indexFailure = indexFailure ?? error
            }
        }
        if let indexFailure { throw indexFailure.storageError("cannot rebuild the indexes") }
        damaged += outcome.damaged
        shared.addDamage(damaged)
        for range in damaged {
            logger.error("damaged log range", metadata: ["range": "\(range)"])
        }
        let writePosition = outcome.end
        let active = segments.last { $0.baseOffset <= writePosition } ?? segments[0]
        do throws(SystemCallError) {
            if let tail = outcome.truncatedTail {
                logger.error(
                    "truncated a torn tail",
                    metadata: ["offset": "\(tail.offset)", "bytes.dropped": "\(tail.bytesDropped)", "reason": "\(tail.reason)"])
            }
            if !wasClean || outcome.truncatedTail != nil {
                // Zero what follows the recovered end so no stale bytes can ever pass for a record.
                let from = Int(writePosition - active.baseOffset)
                try FileIO.zeroRange(active.file.fd, offset: from, length: active.size - from, path: active.path)
            }
            for segment in segments where segment.endOffset > startOffset { try segment.file.syncData() }
            for index in shared.allQueueIndexes() {
                index.publish()
                try index.syncIfDirty()
            }
            try keyIndex.syncIfDirty()
        } catch {
            throw error.storageError("cannot finish recovery")
        }
        shared.publishEnd(writePosition)
        shared.publishFlushed(writePosition)

        let keyPosition = keyIndex.position
        let newCheckpoint = Checkpoint(
            logOffset: writePosition, keyIndexSequence: keyPosition.sequence, keyIndexCount: UInt64(keyPosition.count),
            writtenAtMs: configuration.wallClockMs())
        do throws(SystemCallError) {
            try newCheckpoint.save(directory: directory)
            try FileIO.writeAtomically(Array("running\n".utf8), to: configuration.abortMarkerPath)
        } catch {
            throw error.storageError("cannot write the checkpoint")
        }
        shared.lastCheckpoint = newCheckpoint

        let report = RecoveryReport(
            previousShutdownWasClean: wasClean, verifiedFromOffset: startOffset, recoveredEndOffset: writePosition,
            recordsVerified: outcome.records, truncatedTail: outcome.truncatedTail, damaged: damaged,
            queueIndexEntriesRebuilt: rebuilt, duration: ContinuousClock.now - started)
        return Result(
            shared: shared, writePosition: writePosition, activeSegment: active, report: report,
            checkpoint: newCheckpoint)
    }

    /// Puts one verified record back into its queue index and the key index. Also used by the
    /// writer for replicated records (`LogWriter+Replication.swift`): they are indexed exactly as
    /// recovery would index them.
    func reindex(_ header: RecordHeader, shared: LogShared) throws(SystemCallError) {
        try reindex(header, in: QueueID(topic: header.topic, queueId: header.queueId), at: header.queueOffset, shared: shared)
        if let secondary = header.secondaryQueue, let offset = header.secondaryQueueOffset {
            try reindex(header, in: secondary, at: offset, shared: shared)
        }
        let keys = header.keys.count + (header.messageId.isEmpty ? 0 : 1)
        if keys > 0 {
            try shared.keyIndex.reserve(keys)
            if !header.messageId.isEmpty {
                shared.keyIndex.insert(
                    hash: KeyIndex.hash(header.messageId), physicalOffset: header.physicalOffset,
                    storeTimestampMs: header.storeTimestampMs)
            }
            for key in header.keys {
                shared.keyIndex.insert(
                    hash: KeyIndex.hash(key), physicalOffset: header.physicalOffset,
                    storeTimestampMs: header.storeTimestampMs)
            }
        }
    }

    /// Puts one queue-index entry for a verified record back, marking skipped offsets lost.
    func reindex(_ header: RecordHeader, in queue: QueueID, at queueOffset: UInt64, shared: LogShared)
        throws(SystemCallError)
    {
        let index = try shared.queueIndex(creating: queue)
        var next = index.nextWriteOffset
        if queueOffset > next, index.startIfUnused(at: queueOffset) { next = queueOffset }
        if queueOffset < next {
            logger.warning(
                "record repeats a queue offset; not indexed",
                metadata: ["queue": "\(queue)", "queue.offset": "\(queueOffset)", "offset": "\(header.physicalOffset)"])
            return
        }
        try index.reserve(Int(queueOffset - next) + 1)
        while next < queueOffset {  // offsets whose records were lost to damage
            index.write(
                QueueEntry(queueOffset: next, physicalOffset: header.physicalOffset, size: QueueEntry.lostMarker, tagHash: 0,
                    storeTimestampMs: header.storeTimestampMs))
            next += 1
        }
        index.write(
            QueueEntry(
                queueOffset: queueOffset, physicalOffset: header.physicalOffset, size: UInt32(header.size),
                tagHash: header.tagHash, storeTimestampMs: header.storeTimestampMs))
    }
}
