/// Everything that shapes a commit log on disk and its flushing.
public struct CommitLogConfiguration: Sendable {
    /// The data folder; the log keeps `commitlog/`, `index/`, `checkpoint`, `LOCK` and `abort` in it.
    public var directory: String
    /// Size of each preallocated segment file. RocketMQ uses 1 GiB; tests use a few KiB.
    public var segmentSizeBytes: Int = 1 << 30
    public var flush: FlushPolicy = .sync
    /// Under sync flush, the longest a `AppendDurability.deferred` append waits for a sync that
    /// another append brings; then the writer syncs for it alone.
    public var deferredSyncDelay: Duration = .milliseconds(5)
    /// Entries per queue-index file (24 bytes each).
    public var queueIndexEntriesPerFile: Int = 300_000
    /// Entries per key-index file (24 bytes each, plus a slot table of half as many u32).
    public var keyIndexEntriesPerFile: Int = 2_000_000
    /// How often indexes are synced and the checkpoint advanced (bounds the work of recovery).
    public var checkpointInterval: Duration = .seconds(1)
    /// The most bytes one group commit gathers before writing.
    public var maxBatchBytes: Int = 16 << 20
    public var retention = RetentionPolicy()
    /// Wall-clock time in milliseconds, stored in every record; injectable for tests.
    public var wallClockMs: @Sendable () -> Int64 = { WallClock.nowMs() }
    /// For tests: run on the writer thread before each sync of the log (to hold a batch written
    /// but not yet synced, as a slow disk would). nil in the broker.
    public var beforeLogSync: (@Sendable () -> Void)?

    public init(directory: String) {
        self.directory = directory
    }

    var commitLogDirectory: String { directory + "/commitlog" }
    var queueIndexDirectory: String { directory + "/index/queues" }
    var keyIndexDirectory: String { directory + "/index/keys" }
    var abortMarkerPath: String { directory + "/abort" }

    /// The largest record (header included) that fits in one segment.
    public var maxRecordBytes: Int { segmentSizeBytes - RecordFormat.blankHeaderSize }
}

/// When whole sealed segments are deleted.
public struct RetentionPolicy: Sendable {
    /// Sealed segments whose last write is older than this are deleted (RocketMQ: 72 h).
    public var maxAge: Duration = .seconds(72 * 3600)
    /// When the file system holding the data folder is fuller than this fraction, the oldest
    /// sealed segments are deleted until it is not (or nothing more may go).
    public var maxDiskUsedFraction: Double = 0.90
    /// How often the writer thread checks.
    public var checkInterval: Duration = .seconds(60)

    public init() {}
}

/// A byte range of the log whose records failed their checks and are never served.
public struct DamagedRange: Sendable, Hashable, CustomStringConvertible {
    public var segmentPath: String
    public var startOffset: UInt64
    public var endOffset: UInt64
    public var reason: String

    public var description: String {
        "log bytes [\(startOffset), \(endOffset)) in \(segmentPath) are damaged: \(reason)"
    }
}

/// What recovery found and did at open.
public struct RecoveryReport: Sendable {
    /// Whether the previous run stopped cleanly (no `abort` marker).
    public var previousShutdownWasClean: Bool
    /// Where verification started: the checkpoint, or the first segment without one.
    public var verifiedFromOffset: UInt64
    public var recoveredEndOffset: UInt64
    public var recordsVerified: Int
    /// A torn or damaged tail cut off the active segment: its offset, bytes dropped and why.
    public var truncatedTail: (offset: UInt64, bytesDropped: Int, reason: String)?
    public var damaged: [DamagedRange]
    public var queueIndexEntriesRebuilt: Int
    public var duration: Duration
}

/// Wall-clock milliseconds (CLOCK_REALTIME): what gets stored in records.
public enum WallClock {
    public static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#endif
