import NIOConcurrencyHelpers
import NIOCore

/// The commit log's side of replication: a leader reads chunks of its log by physical offset; a
/// follower appends them verbatim, truncates a divergent tail, and refuses local appends.
extension CommitLog {
    /// Copies whole records from `offset`, at most about `maxBytes` (always at least one record),
    /// never past the written end (`replicableEnd`: a batch still being synced is shipped
    /// already) nor across a segment boundary.
    /// - Throws: `.offsetOutOfRange` for an offset before the oldest segment or past the end;
    ///   `.corruptRecord` when the leader's own bytes there fail their checks (nothing to ship).
    public func readReplicationChunk(from offset: UInt64, maxBytes: Int) throws(StorageError) -> ReplicationChunk {
        let end = shared.writtenEnd
        if offset == end { return ReplicationChunk(startOffset: offset, bytes: ByteBuffer(), nextOffset: offset) }
        guard offset >= shared.minOffset, offset < end, let segment = shared.segment(containing: offset) else {
            throw StorageError(.offsetOutOfRange, "replication offset \(offset) is outside the log [\(minOffset), \(end))")
        }
        let bytes = segment.file.bytes
        let start = Int(offset - segment.baseOffset)
        let limit = Int(min(end, segment.endOffset) - segment.baseOffset)
        var position = start
        scan: while position < limit && position - start < maxBytes {
            switch RecordCodec.frame(in: bytes, at: position, physicalOffset: segment.baseOffset + UInt64(position)) {
            case .record(let header):
                position += header.size
            case .blank, .end:
                if position == start {
                    return ReplicationChunk(startOffset: offset, bytes: ByteBuffer(), nextOffset: segment.endOffset)
                }
                break scan
            case .corrupt(let reason):
                if position > start { break scan }
                throw StorageError(.corruptRecord, "cannot replicate offset \(offset) of \(segment.path): \(reason)")
            }
        }
        let buffer = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
        return ReplicationChunk(startOffset: offset, bytes: buffer, nextOffset: offset + UInt64(position - start))
    }

    /// Appends a leader's chunk at the same physical offsets, verifying every record (framing,
    /// CRC-32C, self-offset) first, then indexes the records as recovery would. Returns the new end.
    /// Works while local appends are refused. Under `FlushPolicy.sync` the chunk is on disk when
    /// this returns.
    /// - Throws: `.replicaMismatch` when the chunk does not start where this log ends or a record
    ///   fails its checks (nothing is written); `.io`/`.diskFull` from the writer.
    public func appendReplicated(_ chunk: ReplicationChunk) async throws(StorageError) -> UInt64 {
        if chunk.isEmpty { return endOffset }
        var headers: [RecordHeader] = []
        if !chunk.isSegmentEnd {
            headers = try chunk.bytes.withUnsafeReadableBytes { bytes throws(StorageError) -> [RecordHeader] in
                var found: [RecordHeader] = []
                var position = 0
                while position < bytes.count {
                    let physical = chunk.startOffset + UInt64(position)
                    guard case .record(let header) = RecordCodec.frame(in: bytes, at: position, physicalOffset: physical)
                    else {
                        throw StorageError(.replicaMismatch, "replicated bytes at offset \(physical) are not a whole record")
                    }
                    found.append(header)
                    position += header.size
                }
                return found
            }
        }
        let pending = PendingReplicatedChunk(chunk: chunk, headers: headers)
        let result: Result<UInt64, StorageError> = await withCheckedContinuation { continuation in
            writer.submit(
                .maintenance { writer in
                    guard let writer else {
                        continuation.resume(returning: .failure(StorageError(.closed, "the commit log is closed")))
                        return
                    }
                    continuation.resume(returning: writer.appendReplicated(pending))
                })
        }
        return try result.get()
    }

    /// Whether a record (or a segment's blank filler) starts at `offset`, or the log ends there:
    /// the only places a log can be cut without leaving half a record. A divergence point from
    /// a leader's answer is checked with it before anything is cut.
    public func isRecordBoundary(_ offset: UInt64) -> Bool {
        shared.isRecordBoundary(offset)
    }

    /// Cuts the log back to `offset` (a record boundary): later records, their queue-index entries
    /// and later segments are removed, the bytes zeroed and synced, and a checkpoint written.
    /// Key-index entries past `offset` stay behind; lookups verify every candidate by reading it,
    /// so they never match. A no-op when the log already ends at or before `offset`.
    /// - Throws: `.offsetOutOfRange` for an offset before the oldest segment; `.replicaMismatch`
    ///   for one where no record starts; `.io` from the writer.
    public func truncate(to offset: UInt64) async throws(StorageError) {
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            writer.submit(
                .maintenance { writer in
                    guard let writer else {
                        continuation.resume(returning: .failure(StorageError(.closed, "the commit log is closed")))
                        return
                    }
                    continuation.resume(returning: writer.truncate(to: offset))
                })
        }
        try result.get()
    }

    /// Refuses (with `.notLeader` and `reason`) or allows again appends made on this node.
    /// `appendReplicated` is never refused.
    public func refuseLocalAppends(_ reason: String?) {
        shared.localAppendRefusal = reason.map { StorageError(.notLeader, $0) }
    }

    /// Where the written records end (synced or not): what a leader ships to followers, at or
    /// past `endOffset` while a batch is being synced.
    public var replicableEnd: UInt64 { shared.writtenEnd }

    /// Called on the writer thread each time `replicableEnd` grows (for a local batch, before
    /// its sync).
    public func setWrittenListener(_ listener: (@Sendable () -> Void)?) { shared.setWrittenListener(listener) }

    /// Whether local appends are refused right now.
    public var refusesLocalAppends: Bool { shared.localAppendRefusal != nil }

    /// Installs (or removes) the gate every successful local append waits on before returning.
    public func setAcknowledgementGate(_ gate: (any AppendAcknowledgementGate)?) {
        acknowledgementGate.withLockedValue { $0 = gate }
    }

    /// Writes a small file of the data folder atomically (temp, fdatasync, rename, folder fsync)
    /// on the writer thread: for replication's epoch history.
    /// - Throws: `.invalidArgument` for a name with a `/`; `.io`/`.diskFull`.
    public func saveMetadata(_ bytes: [UInt8], name: String) async throws(StorageError) {
        guard !name.isEmpty, !name.contains("/") else {
            throw StorageError(.invalidArgument, "metadata name \"\(name)\" must be one path segment")
        }
        let path = configuration.directory + "/" + name
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            writer.submit(
                .maintenance { writer in
                    guard writer != nil else {
                        continuation.resume(returning: .failure(StorageError(.closed, "the commit log is closed")))
                        return
                    }
                    do throws(SystemCallError) {
                        try FileIO.writeAtomically(bytes, to: path)
                        continuation.resume(returning: .success(()))
                    } catch {
                        continuation.resume(returning: .failure(error.storageError("cannot write \(path)")))
                    }
                })
        }
        try result.get()
    }

    /// Reads a small file of the data folder written by `saveMetadata` (nil: absent), off the
    /// cooperative pool on the writer thread.
    public func loadMetadata(name: String) async -> [UInt8]? {
        let path = configuration.directory + "/" + name
        return await withCheckedContinuation { continuation in
            writer.submit(.maintenance { _ in continuation.resume(returning: FileIO.readWholeFile(path)) })
        }
    }
}

/// A verified replicated chunk on its way to the writer thread.
struct PendingReplicatedChunk: Sendable {
    var chunk: ReplicationChunk
    var headers: [RecordHeader]
}

extension LogShared {
    /// See `CommitLog.isRecordBoundary`.
    func isRecordBoundary(_ offset: UInt64) -> Bool {
        if offset == writtenEnd { return true }
        guard offset >= minOffset, offset < writtenEnd else { return false }
        if segments.contains(where: { $0.endOffset == offset }) { return true }
        guard let segment = segment(containing: offset) else { return false }
        let position = Int(offset - segment.baseOffset)
        switch RecordCodec.frame(in: segment.file.bytes, at: position, physicalOffset: offset) {
        case .record, .blank: return true
        case .end, .corrupt: return false
        }
    }
}
