import Metrics
import SluiceReplication

/// Replication's state as Prometheus gauges, sampled once a second from the replica (the admin
/// API's `/v1/cluster` shows the same numbers on request). Sampling rather than recording on each
/// fetch keeps metrics off the replication path.
struct ReplicationMetrics: Sendable {
    let group: String
    private let endOffset: Gauge
    private let highWatermark: Gauge
    private let lagBytes: Gauge

    init(group: String) {
        self.group = group
        endOffset = Gauge(label: "sluice_replication_end_offset_bytes", dimensions: [("group", group)])
        highWatermark = Gauge(label: "sluice_replication_high_watermark_bytes", dimensions: [("group", group)])
        lagBytes = Gauge(label: "sluice_replication_lag_bytes", dimensions: [("group", group)])
    }

    /// Records one sample. Lag: as a follower, how far its log is behind the leader's end at its
    /// last fetch; as the leader, how far the slowest follower it has heard from this term is
    /// behind its end (0 with none yet: the high-water mark shows that case).
    func record(_ snapshot: Replica.Snapshot) {
        endOffset.record(Double(snapshot.endOffset))
        highWatermark.record(Double(snapshot.highWatermark))
        switch snapshot.role {
        case .leader:
            let slowest = snapshot.followers.values.min() ?? snapshot.endOffset
            lagBytes.record(Double(snapshot.endOffset > slowest ? snapshot.endOffset - slowest : 0))
            for (follower, acknowledged) in snapshot.followers {
                Gauge(label: "sluice_replication_follower_lag_bytes", dimensions: [("group", group), ("follower", follower)])
                    .record(Double(snapshot.endOffset > acknowledged ? snapshot.endOffset - acknowledged : 0))
            }
        case .follower, .promoting:
            lagBytes.record(Double(snapshot.leaderEnd > snapshot.endOffset ? snapshot.leaderEnd - snapshot.endOffset : 0))
        }
    }

    /// Samples `replica` every second until cancelled.
    func run(_ replica: Replica) async {
        while !Task.isCancelled {
            record(replica.snapshot)
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
