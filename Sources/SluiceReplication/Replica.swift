import Logging
import NIOCore
import NIOPosix
import SluiceStorage
import Synchronization

/// One broker's replica of its group's commit log: a leader serving fetches, or a follower
/// copying its leader, switched by the election (`becomeLeader(epoch:)`, `follow(_:)`).
///
/// A replica starts as a follower with local appends refused, so nothing is written before the
/// election says this node leads. `run()` serves the replication port and, while following,
/// copies the leader's log (`Replica+Follower.swift`).
public final class Replica: Sendable {
    public enum Role: String, Sendable, Equatable {
        case follower
        /// Elected; waiting for the follower session to stop before taking appends.
        case promoting
        case leader
    }

    /// What the admin API and `sluice cluster status` show about replication.
    public struct Snapshot: Sendable, Equatable {
        public var role: Role
        public var epoch: Int64
        public var endOffset: UInt64
        public var highWatermark: UInt64
        /// As follower: the leader's end at the last fetch (lag = leaderEnd - endOffset).
        public var leaderEnd: UInt64
        public var leader: String?
        /// As leader: each follower's acknowledged offset this term.
        public var followers: [String: UInt64]
        public var lastError: String?
    }

    struct State {
        var role: Role = .follower
        var epoch: Int64 = 0
        var target: LeaderTarget?
        var history = EpochHistory()
        var sessionActive = false
        var leaderEnd: UInt64 = 0
        var highWatermark: UInt64 = 0
        var lastError: String?
        var server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>?
        /// Per follower that took a snapshot: the log start it will copy from, kept from
        /// retention until it fetches there (or the hold expires).
        var snapshotHolds: [String: (offset: UInt64, until: ContinuousClock.Instant)] = [:]
        /// Connections the replication port serves now (`configuration.maxConnections`).
        var connections = 0
        /// Connections in their handshake (`configuration.maxHandshakes`).
        var handshakes = 0
        /// The group's key (`configuration.key`, or set later by `useKey`).
        var key: ReplicationKey?
        /// Connections holding (or writing) a snapshot offer (`configuration.maxSnapshotOffers`).
        var snapshotOffers = 0
    }

    public let configuration: ReplicaConfiguration
    let log: CommitLog
    let logger: Logger
    let tracker: AcknowledgementTracker
    let growth = LogGrowth()
    let state: Mutex<State>
    /// Told about truncations and promotions (nil: nothing derived from the log to keep up).
    let companion: (any ReplicaCompanion)?

    private init(
        log: CommitLog, configuration: ReplicaConfiguration, history: EpochHistory, companion: (any ReplicaCompanion)?,
        logger: Logger
    ) {
        self.log = log
        self.companion = companion
        self.configuration = configuration
        self.logger = logger
        self.tracker = AcknowledgementTracker(
            required: configuration.requiredAcknowledgements, mode: configuration.mode, timeout: configuration.timeout)
        var initial = State()
        initial.history = history
        initial.key = configuration.key
        self.state = Mutex(initial)
    }

    /// Loads the epoch history, refuses local appends until elected, installs the sync gate, and
    /// binds the replication port.
    /// - Throws: `.storage` for an unreadable epoch history file, `.connectionFailed` when the port
    ///   cannot be bound (in use).
    public static func open(
        log: CommitLog, configuration: ReplicaConfiguration, companion: (any ReplicaCompanion)? = nil, logger: Logger
    ) async throws(ReplicationError) -> Replica {
        var history = EpochHistory()
        if let bytes = await log.loadMetadata(name: EpochHistory.fileName) {
            history = try EpochHistory(fileBytes: bytes)
        }
        log.refuseLocalAppends("this broker is a follower in its group (not elected leader); send to the leader")
        let replica = Replica(log: log, configuration: configuration, history: history, companion: companion, logger: logger)
        log.setAcknowledgementGate(replica.tracker)
        if configuration.mode == .sync {
            log.setConsumerReadLimit { [weak replica] in replica?.consumerReadLimit ?? 0 }
        }
        // Waiting fetches wake as soon as a batch is written, before its sync.
        log.setWrittenListener { [growth = replica.growth] in growth.notify() }
        await removeLeftoverOffers(in: log.configuration.directory)
        log.setRetentionPin(owner: "replication snapshots") { [weak replica] in replica?.snapshotRetentionPin }
        try await replica.bind()
        return replica
    }

    /// Installs the group's key (read from etcd after the port was bound): from now on
    /// connections that prove they hold it are served, and the follower session connects.
    public func useKey(_ key: ReplicationKey) {
        state.withLock { $0.key = key }
    }

    /// The group's key, once known.
    public var key: ReplicationKey? { state.withLock { $0.key } }

    /// The port the replication server listens on (useful with port 0).
    public var boundPort: Int? { state.withLock { $0.server?.channel.localAddress?.port } }

    public var status: ReplicaStatus {
        let (role, lastEpoch) = state.withLock { ($0.role, $0.history.lastEpoch) }
        return ReplicaStatus(
            nodeID: configuration.nodeID, isLeader: role == .leader, lastEpoch: lastEpoch, endOffset: log.endOffset,
            startOffset: log.minOffset)
    }

    public var snapshot: Snapshot {
        let end = log.endOffset
        let followers = tracker.acknowledgedOffsets
        return state.withLock { state in
            Snapshot(
                role: state.role, epoch: state.epoch, endOffset: end,
                highWatermark: state.role == .leader ? tracker.highWatermark(logEnd: end) : state.highWatermark,
                leaderEnd: state.role == .leader ? end : state.leaderEnd, leader: state.target?.nodeID,
                followers: state.role == .leader ? followers : [:], lastError: state.lastError)
        }
    }

    public var history: EpochHistory { state.withLock { $0.history } }

    /// What consumers of this broker may read below under sync acknowledgements: what a majority
    /// holds. A leader uses its term's high-water mark, but never less than the last one it
    /// learned as a follower (a new term counts followers again from their first fetch, and
    /// what a majority held then still is); a follower, the leader's mark from its last fetch.
    var consumerReadLimit: UInt64 {
        let end = log.endOffset
        return state.withLock { state in
            let learned = min(state.highWatermark, end)
            guard state.role == .leader else { return learned }
            return max(tracker.highWatermark(logEnd: end), learned)
        }
    }

    /// Whether a candidate should let a peer bid first: some peer's log is more complete.
    public func shouldDefer(to peers: [ReplicaStatus]) -> Bool {
        let mine = status
        return peers.contains { $0.nodeID != mine.nodeID && $0.isMoreComplete(than: mine) }
    }

    // MARK: role changes (called in order by the cluster coordination)

    /// Takes over as leader of `epoch`: stops copying, lets the companion catch up with the log,
    /// records `(epoch, end)` in the epoch history (durably), starts a new acknowledgement term, and only then accepts local appends.
    /// - Throws: `.staleEpoch` for an epoch not newer than the history's; `.storage` when the
    ///   history cannot be saved (appends stay refused).
    public func becomeLeader(epoch: Int64) async throws(ReplicationError) {
        let already = state.withLock { state -> Bool in
            if state.role == .leader && state.epoch == epoch { return true }
            state.role = .promoting
            state.epoch = epoch
            state.target = nil
            return false
        }
        if already { return }
        // The follower session notices the role within one fetch wait; never write under it.
        while state.withLock({ $0.sessionActive }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // The log no longer grows: let the transaction table take in the last copied events
        // before this broker's checker and producers act on it.
        await companion?.willLead()
        var history = state.withLock { $0.history }
        let end = log.endOffset
        try history.begin(epoch: epoch, at: end)
        do throws(StorageError) {
            try await log.saveMetadata(history.fileBytes, name: EpochHistory.fileName)
        } catch {
            throw ReplicationError(.storage, "cannot save the epoch history", cause: error)
        }
        let promoted = state.withLock { state -> Bool in
            guard state.role == .promoting, state.epoch == epoch else { return false }
            state.history = history
            state.role = .leader
            return true
        }
        guard promoted else { return }  // deposed again meanwhile
        tracker.startTerm(epoch: epoch)
        log.refuseLocalAppends(nil)
        logger.notice("replica leads", metadata: ["epoch": "\(epoch)", "start": "\(end)"])
    }

    /// Follows `target` (nil: no leader known yet). A leader stepping down refuses local appends
    /// first and fails every append still waiting for its followers (fencing).
    public func follow(_ target: LeaderTarget?) {
        let wasLeading = state.withLock { state -> Bool in
            let leading = state.role != .follower
            state.role = .follower
            state.target = target?.nodeID == configuration.nodeID ? nil : target
            if let target { state.epoch = max(state.epoch, target.epoch) }
            return leading
        }
        if wasLeading { stepDown(reason: "deposed: another broker leads the group") }
    }

    /// Stops taking local appends and fails waiting ones.
    func stepDown(reason: String) {
        log.refuseLocalAppends("this broker is a follower in its group (\(reason)); send to the leader")
        tracker.fence()
        logger.warning("replica stepped down", metadata: ["reason": "\(reason)"])
    }

    /// Serves the replication port and copies the leader while following, until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.serve() }
            group.addTask { await self.followLoop() }
        }
    }
}
