import SluiceStorage

/// What the commit log's recovery found at startup, in the terms an operator reads on `/readyz`.
public struct RecoveryFacts: Sendable, Hashable, Codable {
    /// False when the previous run did not stop cleanly (its `abort` marker was still there).
    public var previousShutdownWasClean: Bool
    public var recordsVerified: Int
    /// The byte offset where the recovered log ends (the next append goes there).
    public var endOffset: UInt64
    /// Bytes cut from a torn or damaged tail (0 when the tail was intact).
    public var truncatedTailBytes: Int
    /// Byte ranges that failed verification and are never served.
    public var damagedRanges: Int
    public var queueIndexEntriesRebuilt: Int
    public var durationSeconds: Double

    public init(_ report: RecoveryReport) {
        previousShutdownWasClean = report.previousShutdownWasClean
        recordsVerified = report.recordsVerified
        endOffset = report.recoveredEndOffset
        truncatedTailBytes = report.truncatedTail?.bytesDropped ?? 0
        damagedRanges = report.damaged.count
        queueIndexEntriesRebuilt = report.queueIndexEntriesRebuilt
        let (seconds, attoseconds) = report.duration.components
        durationSeconds = Double(seconds) + Double(attoseconds) / 1e18
    }
}
