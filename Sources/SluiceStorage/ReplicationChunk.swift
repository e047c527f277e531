import NIOCore

/// A run of the commit log copied byte for byte, for a follower to append verbatim.
///
/// `bytes` holds whole records that start at `startOffset` and end at `startOffset + bytes.count`.
/// A chunk with no bytes and `nextOffset > startOffset` says "the segment ends here": the leader
/// rolled to the segment starting at `nextOffset` (its blank filler is not shipped; the follower
/// writes its own). A chunk with no bytes and `nextOffset == startOffset` means nothing new yet.
public struct ReplicationChunk: Sendable {
    public var startOffset: UInt64
    public var bytes: ByteBuffer
    public var nextOffset: UInt64

    public init(startOffset: UInt64, bytes: ByteBuffer, nextOffset: UInt64) {
        self.startOffset = startOffset
        self.bytes = bytes
        self.nextOffset = nextOffset
    }

    public var isEmpty: Bool { bytes.readableBytes == 0 && nextOffset == startOffset }
    public var isSegmentEnd: Bool { bytes.readableBytes == 0 && nextOffset > startOffset }
}

/// Waits, after a local append is stored, until the replicas a sync acknowledgement needs hold
/// it. Replication (`SluiceReplication`) supplies one; without it an append returns once local.
public protocol AppendAcknowledgementGate: Sendable {
    /// Returns when every byte below `end` is on enough replicas.
    /// - Throws: `.replicationTimeout` when they do not confirm in time, `.notLeader` when this
    ///   node stopped leading meanwhile.
    func waitUntilReplicated(end: UInt64) async throws(StorageError)
}
