import Metrics
import SluiceReplication

/// Publishes the replica's position every second, so a follower falling behind (or a high-water
/// mark that stops moving under sync acknowledgements) shows on a dashboard before a fail-over
/// would lose or stall anything:
///
/// - `sluice_replication_end_offset`: this broker's log end;
/// - `sluice_replication_high_water_mark`: what a majority holds (consumers read below it, sync);
/// - `sluice_replication_lag_bytes{follower}`: how far a follower is behind its leader's end, from
///   the leader (every follower that acknowledged this term) and from each follower (itself);
/// - `sluice_replication_leader`: 1 while this replica takes appends, else 0.
struct ReplicationMetrics {
    let replica: Replica
    let nodeID: String

    func run() async {
        let end = Gauge(label: "sluice_replication_end_offset")
        let highWatermark = Gauge(label: "sluice_replication_high_water_mark")
        let leading = Gauge(label: "sluice_replication_leader")
        var known: Set<String> = []
        // Followers given a series, oldest first: a gone one reads 0 until more than
        // `maxFollowerSeries` were named, then its series is removed (a peer naming a new node in
        // every fetch must not grow the registry and /metrics without bound).
        var named: [String] = []
        while !Task.isCancelled {
            let snapshot = replica.snapshot
            end.record(Double(snapshot.endOffset))
            highWatermark.record(Double(snapshot.highWatermark))
            leading.record(snapshot.role == .leader ? 1 : 0)
            let lags = Self.lags(snapshot, nodeID: nodeID)
            for (follower, lag) in lags {
                Gauge(label: "sluice_replication_lag_bytes", dimensions: [("follower", follower)]).record(Double(lag))
            }
            // A follower no longer reported (another term, another role) reads 0, not a stale lag.
            for gone in known.subtracting(lags.keys) {
                Gauge(label: "sluice_replication_lag_bytes", dimensions: [("follower", gone)]).record(0)
            }
            known = Set(lags.keys)
            named += lags.keys.filter { !named.contains($0) }.sorted()
            while named.count > Self.maxFollowerSeries, let gone = named.firstIndex(where: { !known.contains($0) }) {
                Gauge(label: "sluice_replication_lag_bytes", dimensions: [("follower", named.remove(at: gone))]).destroy()
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Follower series kept (a group has a handful of followers; the leader's table holds at most 64).
    static let maxFollowerSeries = 64

    /// Bytes each follower is behind the leader's end: the leader's view of every follower, or a
    /// follower's view of itself.
    static func lags(_ snapshot: Replica.Snapshot, nodeID: String) -> [String: UInt64] {
        switch snapshot.role {
        case .leader:
            return snapshot.followers.mapValues { acknowledged in
                snapshot.endOffset > acknowledged ? snapshot.endOffset - acknowledged : 0
            }
        case .follower, .promoting:
            guard snapshot.leader != nil else { return [:] }
            return [nodeID: snapshot.leaderEnd > snapshot.endOffset ? snapshot.leaderEnd - snapshot.endOffset : 0]
        }
    }
}
