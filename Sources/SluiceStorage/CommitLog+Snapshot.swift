import CSluiceShims

/// The log's side of a replica rebuilt from its leader's snapshot (docs/architecture.md §15,
/// "Snapshot transfer"): when the leader's retention has deleted records a follower still lacks,
/// the follower throws its own log away and starts an empty one at the leader's first offset,
/// then copies the leader's log from there as usual. Both run with the log closed, on the
/// caller's thread (blocking file-system calls: call them off the cooperative pool).
extension CommitLog {
    /// Removes the log's files from a data folder: segments, queue and key indexes, the
    /// checkpoint and the abort marker. Other files of the folder stay. The folder must not be
    /// open (its `LOCK` is left alone).
    /// - Throws: `.io` when a file cannot be removed.
    public static func discardLogFiles(_ configuration: CommitLogConfiguration) throws(StorageError) {
        FileIO.removeTree(configuration.commitLogDirectory)
        FileIO.removeTree(configuration.directory + "/index")
        do throws(SystemCallError) {
            try FileIO.remove(configuration.directory + "/" + Checkpoint.fileName)
            try FileIO.remove(configuration.abortMarkerPath)
            try FileIO.syncDirectory(configuration.directory)
        } catch {
            throw error.storageError("cannot remove the log files of \(configuration.directory)")
        }
        if FileIO.exists(configuration.commitLogDirectory) || FileIO.exists(configuration.directory + "/index") {
            throw StorageError(.io, "cannot remove the log files of \(configuration.directory)")
        }
    }

    /// Creates an empty log in a data folder that has none, whose first segment starts at
    /// `offset` (a segment boundary of the leader it will copy from; segment sizes must match
    /// across a group, as for any copy). Opening the folder afterwards finds an empty log ending
    /// at `offset`; each queue's index starts at the first record copied into it.
    /// - Throws: `.invalidArgument` when the folder already has segments; `.io`/`.diskFull`.
    public static func createEmptyLog(_ configuration: CommitLogConfiguration, startingAt offset: UInt64) throws(StorageError) {
        if !FileIO.listDirectory(configuration.commitLogDirectory).compactMap(Segment.parseFileName).isEmpty {
            throw StorageError(.invalidArgument, "\(configuration.commitLogDirectory) already holds segments")
        }
        do throws(SystemCallError) {
            try FileIO.makeDirectory(configuration.commitLogDirectory)
            _ = try Segment(
                directory: configuration.commitLogDirectory, baseOffset: offset, size: configuration.segmentSizeBytes,
                create: true)
            try FileIO.syncDirectory(configuration.commitLogDirectory)
            try FileIO.syncDirectory(configuration.directory)
        } catch {
            throw error.storageError("cannot create an empty log at offset \(offset) in \(configuration.directory)")
        }
    }
}

/// CRC-32C for callers outside the log (the snapshot files a leader ships), the same function
/// records are checked with. `crc` continues an earlier call's result (0 to start).
public func sluiceCRC32C(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    sluice_crc32c(crc, bytes.baseAddress, bytes.count)
}
