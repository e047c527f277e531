import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@testable import SluiceReplication

/// What a follower reads from its leader is checked as well: a leader (or whoever answers at
/// its address) cannot make it trap, or make its next start fail for good.
@Suite("replication: a follower facing a hostile leader", .serialized)
struct HostileLeaderTests {
    @Test("a snapshot whose log start leaves no room for a segment is refused when it arrives (the follower's next start trapped on it)")
    func snapshotLogStartAtTheTop() async throws {
        try await withTemporaryDirectory { root in
            let peer = try await ScriptedPeer { request in
                guard case .snapshotRequest? = request else { return [] }
                let manifest = SnapshotManifest(id: 7, logStart: UInt64.max - 100, history: EpochHistory(), files: [])
                return [ReplicationMessage.snapshotReady(manifest).encoded()]
            }
            let configuration = CommitLogConfiguration(directory: root + "/follower")
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            await log.close()
            let target = LeaderTarget(nodeID: "hostile", epoch: 1, host: "127.0.0.1", port: peer.port)
            var accepted: SnapshotManifest?
            do throws(ReplicationError) {
                accepted = try await SnapshotTransfer.download(from: target, nodeID: "f", directory: configuration.directory, logger: quietLogger)
            } catch {
                #expect(error.code == .malformedFrame)
                #expect(error.message.contains("snapshot log start \(UInt64.max - 100) is past the largest log offset"), "\(error)")
            }
            await peer.stop()
            if let accepted {
                Issue.record("a snapshot starting at \(accepted.logStart) was accepted")
                // What the broker's start-up does with it next: install it, then open the log there.
                try await SnapshotTransfer.install(accepted, configuration: configuration, derived: [], logger: quietLogger)
                let reopened = try await CommitLog.open(configuration, logger: quietLogger)
                await reopened.close()
            }
        }
    }
}

