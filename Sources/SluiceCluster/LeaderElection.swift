import EtcdWire

/// Who leads a broker group, as stored under `<root>/groups/<group>/leader`.
public struct LeaderRecord: Codable, Sendable, Hashable {
    public var nodeID: String
    /// The epoch this leadership began: one more than the previous leader's, never reused.
    public var epoch: Int64
    public var grpcAddress: String
    /// Where followers fetch this leader's log (with replication); absent without it.
    public var replicationAddress: String?

    public init(nodeID: String, epoch: Int64, grpcAddress: String, replicationAddress: String? = nil) {
        self.replicationAddress = replicationAddress
        self.nodeID = nodeID
        self.epoch = epoch
        self.grpcAddress = grpcAddress
    }
}

/// Proof of a won election: the record and the revision that created the leader key. Anything
/// the leader does conditionally in etcd compares against that revision, so a deposed leader's
/// late writes fail.
public struct Leadership: Sendable, Hashable {
    public var group: String
    public var record: LeaderRecord
    public var createRevision: Int64
    public var lease: EtcdLease
}

/// Leader election for one broker group.
///
/// Campaigning is one Txn: "the leader key does not exist and the epoch key is unchanged since I
/// read it" → put the leader key (on my lease) and the epoch + 1. Exactly one candidate's Txn
/// succeeds per vacancy, and the epoch key (no lease) outlives every leader, so epochs only grow.
/// The leader key vanishes when the leader resigns, or when its lease expires because the process
/// died or lost etcd for a TTL; the waiting candidates watch for that deletion.
public struct LeaderElection: Sendable {
    public let client: EtcdClient
    public let group: String
    public let keys: ClusterKeys

    /// - Throws: `.invalidArgument` for a group name that cannot be a key segment.
    public init(client: EtcdClient, group: String, keys: ClusterKeys = ClusterKeys()) throws(EtcdError) {
        try ClusterKeys.checkSegment(group, "broker group")
        self.client = client
        self.group = group
        self.keys = keys
    }

    var leaderKey: String { keys.leader(ofGroup: group) }
    var epochKey: String { keys.epoch(ofGroup: group) }

    /// The current leader (nil: none) and the store revision the read saw.
    public func currentLeader() async throws(EtcdError) -> (leader: LeaderRecord?, revision: Int64) {
        let (value, revision) = try await client.get(leaderKey)
        return (try value.map { kv throws(EtcdError) in try StoredJSON.decode(LeaderRecord.self, from: kv) }, revision)
    }

    /// The epoch of the latest leader (0 before the first election).
    public func currentEpoch() async throws(EtcdError) -> Int64 {
        let (value, _) = try await client.get(epochKey)
        return try Self.epoch(of: value)
    }

    static func epoch(of value: EtcdKeyValue?) throws(EtcdError) -> Int64 {
        guard let value else { return 0 }
        guard let epoch = Int64(String(decoding: value.value, as: UTF8.self)), epoch >= 0 else {
            throw EtcdError(.malformedValue, "\(value.key) does not hold an epoch")
        }
        return epoch
    }

    /// Returns once this node leads the group; waits (watching the leader key) while another does.
    /// `lease` must be kept alive by the caller: the leadership ends with it.
    ///
    /// `beforeBid`, when given, runs once per vacancy before this node bids, and may wait: with
    /// replication, a node whose log is less complete than a live peer's lets that peer bid first
    /// (the candidacy rule), so the new leader holds every acknowledged record.
    public func campaign(
        nodeID: String, grpcAddress: String, replicationAddress: String? = nil, lease: EtcdLease,
        beforeBid: (@Sendable () async -> Void)? = nil
    ) async throws(EtcdError) -> Leadership {
        try ClusterKeys.checkSegment(nodeID, "node id")
        var waitedThisVacancy = false
        while true {
            if Task.isCancelled { throw EtcdError(.cancelled, "campaign for \(group) cancelled") }
            let (leaderValue, revision) = try await client.get(leaderKey)
            if let leaderValue {
                // Our own key from an earlier attempt whose answer was lost: we already lead.
                if leaderValue.lease == lease.id {
                    let record = try StoredJSON.decode(LeaderRecord.self, from: leaderValue)
                    return Leadership(group: group, record: record, createRevision: leaderValue.createRevision, lease: lease)
                }
                try await waitForVacancy(after: revision)
                waitedThisVacancy = false
                continue
            }
            if let beforeBid, !waitedThisVacancy {
                waitedThisVacancy = true
                await beforeBid()
                continue  // someone may have won meanwhile: look again
            }
            let (epochValue, _) = try await client.get(epochKey)
            let (next, overflow) = try Self.epoch(of: epochValue).addingReportingOverflow(1)
            if overflow { throw EtcdError(.malformedValue, "\(epochKey) holds the largest epoch there is") }
            let record = LeaderRecord(
                nodeID: nodeID, epoch: next, grpcAddress: grpcAddress, replicationAddress: replicationAddress)
            var txn = Etcdserverpb_TxnRequest()
            txn.compare = [.absent(leaderKey), .modified(epochKey, at: epochValue?.modRevision ?? 0)]
            txn.success = [.put(leaderKey, StoredJSON.encode(record), lease: lease.id), .put(epochKey, Array(String(next).utf8))]
            let response = try await client.transaction(txn, "campaign for \(group)")
            if response.succeeded {
                return Leadership(group: group, record: record, createRevision: response.header.revision, lease: lease)
            }
            // Someone else won this vacancy (or bumped the epoch); look again.
        }
    }

    /// Waits until the leader key is deleted after `revision` (resigned or its lease expired).
    private func waitForVacancy(after revision: Int64) async throws(EtcdError) {
        do {
            for try await events in client.watch(leaderKey, startRevision: revision + 1) {
                if events.contains(where: { $0.kind == .delete }) { return }
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError(.unavailable, "watching \(leaderKey)", cause: error)
        }
        throw EtcdError(.cancelled, "waiting for the leader of \(group) to go")
    }

    /// Returns when `leadership` is over: its leader key was deleted (resigned, lease expired) or
    /// belongs to a newer incarnation. This is how a deposed leader learns it lost leadership.
    public func waitUntilDeposed(_ leadership: Leadership) async throws(EtcdError) {
        // The key may already be gone before the watch starts: check once, then watch from there.
        let (value, revision) = try await client.get(leaderKey)
        guard let value, value.createRevision == leadership.createRevision else { return }
        do {
            for try await events in client.watch(leaderKey, startRevision: revision + 1) {
                for event in events {
                    if event.kind == .delete || event.keyValue.createRevision != leadership.createRevision { return }
                }
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError(.unavailable, "watching \(leaderKey)", cause: error)
        }
        throw EtcdError(.cancelled, "watching the leadership of \(group)")
    }

    /// Gives up `leadership` now (only if it is still ours: a Txn on the key's create revision).
    /// Returns whether it was still held.
    @discardableResult
    public func resign(_ leadership: Leadership) async throws(EtcdError) -> Bool {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [.created(leaderKey, at: leadership.createRevision)]
        txn.success = [.delete(leaderKey)]
        return try await client.transaction(txn, "resign from \(group)").succeeded
    }

    /// The group's leader now and after every change (nil while there is none), via Watch.
    public func observe() -> AsyncThrowingStream<LeaderRecord?, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: LeaderRecord?.self)
        let task = Task {
            do {
                let (leader, revision) = try await currentLeader()
                continuation.yield(leader)
                for try await events in client.watch(leaderKey, startRevision: revision + 1) {
                    guard let last = events.last else { continue }
                    switch last.kind {
                    case .delete: continuation.yield(nil)
                    case .put: continuation.yield(try StoredJSON.decode(LeaderRecord.self, from: last.keyValue))
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
