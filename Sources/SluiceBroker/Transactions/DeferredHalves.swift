import NIOConcurrencyHelpers
import SluiceTransactions

/// Half messages that are in the commit log but not yet in the transaction table.
///
/// Most producers end a transaction milliseconds after its half message. Writing the half to
/// SQLite as `prepared` and then updating it cost an insert into seven indexes, a read and an
/// update per transaction; holding it here for `delay` first lets EndTransaction write one row,
/// already final, in a batch. Halves still unresolved after `delay` are written as `prepared`
/// in one batch and from then on follow the ordinary path (checks, operators, queries).
///
/// The log stays the truth: each entry keeps its event-watermark token open until its row is in
/// the table, so after a crash `reconcile()` replays it from the log.
final class DeferredHalves: Sendable {
    struct Entry: Sendable {
        var prepared: PreparedTransaction
        /// Open until the table holds this transaction's row.
        var halfToken: EventWatermark.Token
        var phase: Phase
    }

    enum Phase: Sendable {
        /// In memory only; the flusher may write it as prepared.
        case waiting
        /// Being written as prepared.
        case flushing
        /// An end is appending its resolution to the log.
        case resolving
        /// Resolved in the log; the flusher writes the final row (and retries it if SQLite fails).
        case unwritten(TransactionStateStore.ResolvedAtOnce, eventToken: EventWatermark.Token)
    }

    enum Admission: Sendable {
        /// Held here; the producer's id is the new one.
        case deferred
        /// The same client already sent this message and it is still held here.
        case duplicate(Entry)
        /// Write it to the table now (the key may be there already, or memory is full).
        case insertNow
    }

    enum Claim: Sendable {
        /// The caller resolves it and must call `finish` or `markUnwritten`.
        case claimed(Entry)
        /// Resolved in the log already; its row is not written yet.
        case unwritten(TransactionStateStore.ResolvedAtOnce)
        /// Not held here: the table has it (or never had it).
        case absent
    }

    private struct State {
        var byId: [String: Entry] = [:]
        var byKey: [TransactionMessageKey: String] = [:]
        var recent: RecentTransactionKeys
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let delayMs: Int64
    let capacity: Int
    private let state: NIOLockedValueBox<State>

    init(delayMs: Int64, capacity: Int = 65_536, retryWindowMs: Int64 = 120_000, recentCapacity: Int = 1_000_000) {
        self.delayMs = delayMs
        self.capacity = capacity
        self.state = NIOLockedValueBox(State(recent: RecentTransactionKeys(windowMs: retryWindowMs, capacity: recentCapacity)))
    }

    var retryWindowMs: Int64 { state.withLockedValue { $0.recent.windowMs } }

    var count: Int { state.withLockedValue { $0.byId.count } }

    /// The entry for `transactionId`, if it is held here.
    func entry(_ transactionId: String) -> Entry? {
        state.withLockedValue { $0.byId[transactionId] }
    }

    /// Remembers keys the table already holds (at start-up, the ones created within the window).
    func remember(_ key: TransactionMessageKey, seenAtMs: Int64) {
        state.withLockedValue { $0.recent.insert(key.hashValue, seenAtMs: seenAtMs) }
    }

    /// Decides where a half message just appended goes.
    func admit(_ prepared: PreparedTransaction, halfToken: EventWatermark.Token, nowMs: Int64) -> Admission {
        let key = TransactionMessageKey(clientId: prepared.clientId, topic: prepared.topic, messageId: prepared.messageId)
        let hash = key.hashValue
        return state.withLockedValue { state in
            if let existing = state.byKey[key], let entry = state.byId[existing] {
                return .duplicate(entry)
            }
            state.recent.expire(nowMs: nowMs)
            let maybeInTable = state.recent.contains(hash) || !state.recent.isComplete(nowMs: nowMs)
            state.recent.insert(hash, seenAtMs: nowMs)
            if maybeInTable || state.byId.count >= capacity {
                return .insertNow
            }
            state.byId[prepared.transactionId] = Entry(prepared: prepared, halfToken: halfToken, phase: .waiting)
            state.byKey[key] = prepared.transactionId
            return .deferred
        }
    }

    /// Takes `transactionId` for resolution by its producer. Waits while the flusher writes it.
    func claim(_ transactionId: String) async -> Claim {
        while true {
            let outcome: Claim? = state.withLockedValue { state in
                guard var entry = state.byId[transactionId] else { return .absent }
                switch entry.phase {
                case .waiting:
                    entry.phase = .resolving
                    state.byId[transactionId] = entry
                    return .claimed(entry)
                case .flushing:
                    return nil
                case .resolving:
                    // Ends of one transaction are serialised by the coordinator; a second one
                    // here would be a bug. Let it take the table's path, which decides safely.
                    return .absent
                case .unwritten(let row, _):
                    return .unwritten(row)
                }
            }
            if let outcome { return outcome }
            await waitForFlush(of: transactionId)
        }
    }

    /// Takes `transactionId` to be written as prepared before someone other than its producer
    /// resolves it. nil when it is not waiting here (absent, or already resolved in the log).
    func takeForImmediateFlush(_ transactionId: String) async -> Entry? {
        while true {
            let outcome: (Entry?, wait: Bool) = state.withLockedValue { state in
                guard var entry = state.byId[transactionId] else { return (nil, false) }
                switch entry.phase {
                case .waiting:
                    entry.phase = .flushing
                    state.byId[transactionId] = entry
                    return (entry, false)
                case .flushing:
                    return (nil, true)
                case .resolving, .unwritten:
                    return (nil, false)
                }
            }
            if !outcome.wait { return outcome.0 }
            await waitForFlush(of: transactionId)
        }
    }

    /// A claimed transaction whose resolution could not be appended: back to waiting.
    func release(_ transactionId: String) {
        state.withLockedValue { state in
            if case .resolving = state.byId[transactionId]?.phase { state.byId[transactionId]?.phase = .waiting }
        }
    }

    /// Every half goes to the table at once until `untilMs` (the recent keys are unknown).
    func rememberNothingUntil(_ untilMs: Int64) {
        state.withLockedValue { $0.recent.markIncomplete(untilMs: untilMs) }
    }

    /// The row of a claimed transaction is in the table: forget it.
    func finish(_ transactionId: String) {
        state.withLockedValue { state in
            guard let entry = state.byId.removeValue(forKey: transactionId) else { return }
            state.byKey.removeValue(forKey: Self.key(entry.prepared))
        }
    }

    /// The log is about to be cut at commit-log offset `cut`: forgets held halves at or past it
    /// (waiting or unwritten; one being flushed or resolved right now is left to its writer), and
    /// puts a held half below the cut whose resolution is in the tail (`resolvedInTail`) back to
    /// waiting, as if its producer had not ended it yet. Returns the tokens to end.
    func dropTail(from cut: UInt64, resolvedInTail: Set<String> = []) -> [EventWatermark.Token] {
        state.withLockedValue { state in
            var tokens: [EventWatermark.Token] = []
            for (transactionId, entry) in state.byId {
                guard UInt64(max(0, entry.prepared.commitLogOffset)) >= cut else {
                    if case .unwritten(_, let eventToken) = entry.phase, resolvedInTail.contains(transactionId) {
                        tokens.append(eventToken)
                        state.byId[transactionId]?.phase = .waiting
                    }
                    continue
                }
                switch entry.phase {
                case .waiting:
                    tokens.append(entry.halfToken)
                case .unwritten(_, let eventToken):
                    tokens += [entry.halfToken, eventToken]
                case .flushing, .resolving:
                    continue
                }
                state.byId.removeValue(forKey: transactionId)
                state.byKey.removeValue(forKey: Self.key(entry.prepared))
            }
            return tokens
        }
    }

    /// A claimed transaction's resolution is in the log but its row could not be written.
    func markUnwritten(_ transactionId: String, row: TransactionStateStore.ResolvedAtOnce, eventToken: EventWatermark.Token) {
        state.withLockedValue { state in
            state.byId[transactionId]?.phase = .unwritten(row, eventToken: eventToken)
        }
    }

    /// Entries due for writing: waiting ones created at or before `cutoffMs` (marked flushing),
    /// and every unwritten resolution.
    func takeDue(cutoffMs: Int64, limit: Int) -> (
        prepared: [Entry], resolved: [(entry: Entry, eventToken: EventWatermark.Token, row: TransactionStateStore.ResolvedAtOnce)]
    ) {
        state.withLockedValue { state in
            var prepared: [Entry] = []
            var resolved: [(entry: Entry, eventToken: EventWatermark.Token, row: TransactionStateStore.ResolvedAtOnce)] = []
            for entry in state.byId.values {
                if prepared.count + resolved.count >= limit { break }
                switch entry.phase {
                case .waiting where entry.prepared.createdAtMs <= cutoffMs:
                    prepared.append(entry)
                case .unwritten(let row, let eventToken):
                    resolved.append((entry, eventToken, row))
                default:
                    break
                }
            }
            // Marked after the walk: changing the dictionary while walking it would copy it.
            for index in prepared.indices {
                prepared[index].phase = .flushing
                state.byId[prepared[index].prepared.transactionId]?.phase = .flushing
            }
            return (prepared, resolved)
        }
    }

    /// The flusher is done with `ids`: written ones leave, the others wait for the next round.
    func flushed(written: [String], failed: [String]) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            for id in written {
                if let entry = state.byId.removeValue(forKey: id) {
                    state.byKey.removeValue(forKey: Self.key(entry.prepared))
                }
            }
            for id in failed {
                if case .flushing = state.byId[id]?.phase { state.byId[id]?.phase = .waiting }
            }
            defer { state.flushWaiters.removeAll() }
            return state.flushWaiters
        }
        waiters.forEach { $0.resume() }
    }

    private func waitForFlush(of transactionId: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stillFlushing: Bool = state.withLockedValue { state in
                guard case .flushing = state.byId[transactionId]?.phase else { return false }
                state.flushWaiters.append(continuation)
                return true
            }
            if !stillFlushing { continuation.resume() }
        }
    }

    private static func key(_ prepared: PreparedTransaction) -> TransactionMessageKey {
        TransactionMessageKey(clientId: prepared.clientId, topic: prepared.topic, messageId: prepared.messageId)
    }
}
