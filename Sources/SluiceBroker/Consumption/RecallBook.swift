import Synchronization

/// The DELAY messages recalled before their delivery time, by their position in the commit log
/// (which names one record exactly). Consulted by every group's scan and timer: a recalled message
/// is never delivered to any group. Durable in `recalled_messages` (migration 0007); rows whose
/// record retention removed are dropped at start, so the set is bounded by what the log keeps.
public final class RecallBook: Sendable {
    private let recalled: Mutex<Set<UInt64>>
    /// Lets the hot path skip the lock while nothing was ever recalled (the usual case).
    private let isEmpty: Atomic<Bool>

    init(_ physicalOffsets: Set<UInt64>) {
        recalled = Mutex(physicalOffsets)
        isEmpty = Atomic(physicalOffsets.isEmpty)
    }

    /// Whether the record at `physicalOffset` was recalled.
    func contains(_ physicalOffset: UInt64) -> Bool {
        if isEmpty.load(ordering: .acquiring) { return false }
        return recalled.withLock { $0.contains(physicalOffset) }
    }

    /// Marks a record recalled, if `stillAllowed()` holds under the lock (its delivery time has not
    /// come); false when it was recalled before. A scan or timer that looks after this returns
    /// skips it.
    func insert(_ physicalOffset: UInt64, if stillAllowed: () -> Bool) -> InsertOutcome {
        recalled.withLock { set in
            if set.contains(physicalOffset) { return .alreadyRecalled }
            guard stillAllowed() else { return .tooLate }
            set.insert(physicalOffset)
            isEmpty.store(false, ordering: .releasing)
            return .inserted
        }
    }

    enum InsertOutcome { case inserted, alreadyRecalled, tooLate }

    /// Undoes an `insert` whose recall could not be recorded.
    func remove(_ physicalOffset: UInt64) {
        _ = recalled.withLock { $0.remove(physicalOffset) }
    }

    var count: Int { recalled.withLock { $0.count } }
}
