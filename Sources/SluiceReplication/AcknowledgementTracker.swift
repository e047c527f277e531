import Logging
import NIOCore
import NIOPosix
import SluiceStorage
import Synchronization

/// The leader's record of what each follower holds, and the gate sync appends wait on.
///
/// A follower's fetch from offset *o* says "I hold every byte below *o*" (durably, under its
/// `--flush sync`). An append ending at *e* is acknowledged once `required` followers have
/// fetched from at least *e*: with `required = replicas / 2` the leader plus those followers are a
/// majority, so any majority that elects the next leader includes one of them, and the
/// candidacy rule (`ReplicaStatus.isMoreComplete`) lets the most complete log win.
final class AcknowledgementTracker: AppendAcknowledgementGate {
    enum Outcome: Sendable { case replicated, notLeader, timedOut }

    private struct Waiter {
        var end: UInt64
        var continuation: CheckedContinuation<Outcome, Never>
        var timer: Scheduled<Void>?
    }

    /// Followers remembered at most in a term: far more than a group has, so a peer naming a
    /// new node in every fetch cannot grow the table (the one that fetched least recently makes
    /// room; a real follower fetches again within a fetch wait and comes back).
    static let maxFollowers = 64

    private struct Follower {
        var offset: UInt64
        /// When it last fetched, in fetches counted this term.
        var lastFetch: UInt64
    }

    private struct State {
        var leading = false
        var epoch: Int64 = 0
        var acknowledged: [String: Follower] = [:]
        var fetches: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var required = 0
    }

    let required: Int
    let mode: ReplicationMode
    let timeout: Duration
    private let state = Mutex(State())

    init(required: Int, mode: ReplicationMode, timeout: Duration) {
        self.required = required
        self.mode = mode
        self.timeout = timeout
        state.withLock { $0.required = required }
    }

    /// A new term as leader: followers count again from their next fetch.
    func startTerm(epoch: Int64) {
        state.withLock { state in
            state.leading = true
            state.epoch = epoch
            state.acknowledged = [:]
            state.fetches = 0
        }
    }

    /// Leadership lost: every waiting append fails with `.notLeader`.
    func fence() {
        let waiters = state.withLock { state in
            state.leading = false
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .notLeader)
        }
    }

    /// A follower fetched from `offset`: it holds everything below.
    func record(node: String, offset: UInt64) {
        let ready: [Waiter] = state.withLock { state in
            guard state.leading else { return [] }
            if state.acknowledged[node] == nil, state.acknowledged.count >= Self.maxFollowers,
                let stalest = state.acknowledged.min(by: { $0.value.lastFetch < $1.value.lastFetch })?.key
            {
                state.acknowledged[stalest] = nil
            }
            state.fetches &+= 1
            state.acknowledged[node] = Follower(offset: offset, lastFetch: state.fetches)
            let ids = state.waiters.filter { Self.isReplicated($0.value.end, state) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in ready {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .replicated)
        }
    }

    /// The offset below which `required` followers hold everything (the leader's own end when none
    /// is required): what a consumer could safely be shown in sync mode.
    func highWatermark(logEnd: UInt64) -> UInt64 {
        state.withLock { state in
            guard required > 0 else { return logEnd }
            let offsets = state.acknowledged.values.map(\.offset).sorted(by: >)
            return offsets.count >= required ? min(offsets[required - 1], logEnd) : 0
        }
    }

    /// Followers and the offset each has acknowledged this term.
    var acknowledgedOffsets: [String: UInt64] { state.withLock { $0.acknowledged.mapValues(\.offset) } }

    private static func isReplicated(_ end: UInt64, _ state: State) -> Bool {
        state.acknowledged.values.filter { $0.offset >= end }.count >= state.required
    }

    func waitUntilReplicated(end: UInt64) async throws(StorageError) {
        guard mode == .sync, required > 0 else { return }
        let outcome: Outcome = await withCheckedContinuation { continuation in
            let immediate: Outcome? = state.withLock { state in
                guard state.leading else { return .notLeader }
                if Self.isReplicated(end, state) { return .replicated }
                let id = state.nextID
                state.nextID += 1
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
                    [weak self] in _ = self?.expire(id)
                }
                state.waiters[id] = Waiter(end: end, continuation: continuation, timer: timer)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        switch outcome {
        case .replicated: return
        case .notLeader:
            throw StorageError(.notLeader, "stored locally but this broker is no longer its group's leader; not acknowledged")
        case .timedOut:
            throw StorageError(
                .replicationTimeout,
                "stored locally but \(required) follower(s) did not confirm it within \(timeout) (--replication-timeout)")
        }
    }

    private func expire(_ id: UInt64) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        waiter.continuation.resume(returning: .timedOut)
    }
}

/// `--replication sync|async`.
public enum ReplicationMode: String, Sendable, CaseIterable {
    /// A local append is acknowledged once `replicas / 2` followers hold it.
    case sync
    /// Acknowledged once local; followers copy in the background (a fail-over can lose the tail).
    case async
}
