import SluiceStorage
import NIOCore
import Synchronization
import Logging
/// Which leader epoch wrote which part of the log: `(epoch, start offset)` pairs, epochs and
/// offsets both ascending. Entry *i* covers `[start_i, start_{i+1})`, the last one to the log's
/// end. Kafka calls this the leader-epoch checkpoint; Raft keeps the term in every entry.
///
/// A follower that comes back compares its history with its leader's (`endOffset(of:logEnd:)`)
/// to find where the logs diverge, and cuts its log there: a deposed leader's unacknowledged
/// tail is thrown away, and it can never make another replica keep it (fencing).
public struct EpochHistory: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var epoch: Int64
        public var startOffset: UInt64

        public init(epoch: Int64, startOffset: UInt64) {
            self.epoch = epoch
            self.startOffset = startOffset
        }
    }

    /// Bounded so a frame or the file stays small: a group with more leader changes than this
    /// keeps the newest ones (divergence below the oldest kept one truncates to that one's start).
    public static let maxEntries: UInt32 = 4096

    public private(set) var entries: [Entry]

    public init() { entries = [] }

    /// - Throws: `.malformedFrame` when an epoch is below 1 (elections start at 1; 0 means "no
    ///   leader yet"), epochs are not strictly increasing or offsets decrease.
    public init(checking entries: [Entry]) throws(ReplicationError) {
        // An epoch below 1 would never be dropped by a leader's answer (which names epoch 0 when
        // it knows none older), so a follower holding one could never reconcile.
        if let first = entries.first, first.epoch < 1 {
            throw ReplicationError(.malformedFrame, "epoch history starts with epoch \(first.epoch); epochs start at 1")
        }
        for (previous, next) in zip(entries, entries.dropFirst()) {
            guard next.epoch > previous.epoch, next.startOffset >= previous.startOffset else {
                throw ReplicationError(
                    .malformedFrame,
                    "epoch history out of order: (\(previous.epoch), \(previous.startOffset)) then (\(next.epoch), \(next.startOffset))")
            }
        }
        self.entries = entries
    }

    /// The newest epoch (0 before any leader wrote).
    public var lastEpoch: Int64 { entries.last?.epoch ?? 0 }

    /// Records that `epoch` starts writing at `offset` (a new leader's first act). Entries for
    /// this or newer epochs, or starting past `offset`, are dropped first: they describe a log
    /// this node no longer has.
    /// - Throws: `.staleEpoch` when `epoch` is not newer than an entry that stays.
    public mutating func begin(epoch: Int64, at offset: UInt64) throws(ReplicationError) {
        entries.removeAll { $0.epoch >= epoch || $0.startOffset > offset }
        if let last = entries.last, last.epoch >= epoch {
            throw ReplicationError(.staleEpoch, "epoch \(epoch) is not newer than \(last.epoch)")
        }
        entries.append(Entry(epoch: epoch, startOffset: offset))
        if entries.count > Int(Self.maxEntries) { entries.removeFirst(entries.count - Int(Self.maxEntries)) }
    }

    /// The leader's answer to "where does epoch `epoch` end?": the largest epoch it knows that is
    /// ≤ `epoch`, and the start of the next one (or `logEnd` if it is the newest). With no such
    /// epoch the answer is epoch 0 ending where the first known epoch starts (or at `logEnd`).
    public func endOffset(of epoch: Int64, logEnd: UInt64) -> (epoch: Int64, endOffset: UInt64) {
        guard let index = entries.lastIndex(where: { $0.epoch <= epoch }) else {
            return (0, entries.first.map { min($0.startOffset, logEnd) } ?? logEnd)
        }
        let end = index + 1 < entries.count ? entries[index + 1].startOffset : logEnd
        return (entries[index].epoch, min(end, logEnd))
    }

    /// Forgets what lies past `offset` (after a truncation): entries starting after it go.
    public mutating func truncate(to offset: UInt64) {
        entries.removeAll { $0.startOffset > offset }
    }

    /// Forgets epochs newer than `epoch` (the leader never knew them).
    public mutating func dropEpochs(after epoch: Int64) {
        entries.removeAll { $0.epoch > epoch }
    }

    /// A follower's history after copying its leader's log up to `end`: the leader's entries that
    /// start at or below `end`.
    public static func adopted(from leader: EpochHistory, upTo end: UInt64) -> EpochHistory {
        var copy = leader
        copy.entries.removeAll { $0.startOffset > end }
        return copy
    }

    // MARK: the file (`<data-dir>/replication-epochs`)

    public static let fileName = "replication-epochs"

    /// Text, one `epoch start` pair a line, so an operator can read it.
    public var fileBytes: [UInt8] {
        Array(entries.map { "\($0.epoch) \($0.startOffset)\n" }.joined().utf8)
    }

    /// - Throws: `.malformedFrame` for a line that is not two numbers, or entries out of order.
    public init(fileBytes: [UInt8]) throws(ReplicationError) {
        var parsed: [Entry] = []
        for line in String(decoding: fileBytes, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let epoch = Int64(fields[0]), let start = UInt64(fields[1]) else {
                throw ReplicationError(.malformedFrame, "\(Self.fileName): line \"\(line)\" is not \"epoch offset\"")
            }
            parsed.append(Entry(epoch: epoch, startOffset: start))
        }
        try self.init(checking: parsed)
    }
}

/// The follower's side of finding the divergence point, without I/O.
public enum Divergence {
    /// Where the follower must cut its log, given the leader's answer for the follower's last
    /// epoch. nil: nothing to cut.
    public static func truncationPoint(followerEnd: UInt64, leaderAnswerEnd: UInt64) -> UInt64? {
        leaderAnswerEnd < followerEnd ? leaderAnswerEnd : nil
    }
}
