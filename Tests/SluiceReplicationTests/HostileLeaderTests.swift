import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@testable import SluiceReplication

private func record(_ text: String) -> MessageRecord {
    MessageRecord(
        topic: "orders", queueId: 0, messageId: "", tags: "", keys: [], properties: [], body: ByteBuffer(string: text),
        bornTimestampMs: 1_700_000_000_000)
}

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

    @Test("a snapshot naming a file twice, or a file the broker does not install, is refused before the log is touched")
    func installChecksNames() async throws {
        try await withTemporaryDirectory { root in
            let configuration = CommitLogConfiguration(directory: root + "/follower")
            let log = try await CommitLog.open(configuration, logger: quietLogger)
            _ = try await log.append(record("kept"))
            let end = log.endOffset
            await log.close()
            let partial = configuration.directory + "/" + SnapshotTransfer.partialFolder
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
            try "state".write(toFile: partial + "/derived.state", atomically: false, encoding: .utf8)
            for names in [
                ["derived.state", "derived.state"], ["checkpoint"], ["commitlog"], [EpochHistory.fileName],
                [SnapshotTransfer.installingMarker], ["derived.state", "abort"],
            ] {
                let manifest = SnapshotManifest(
                    id: 1, logStart: 0, history: EpochHistory(), files: names.map { .init(name: $0, size: 5, crc32c: 0) })
                let error = await #expect(throws: ReplicationError.self) {
                    try await SnapshotTransfer.install(manifest, configuration: configuration, derived: ["derived.state"], logger: quietLogger)
                }
                #expect(error?.code == .malformedFrame, "\(names): \(String(describing: error))")
                let reopened = try await CommitLog.open(configuration, logger: quietLogger)
                #expect(reopened.endOffset == end, "\(names) cost the follower its log")
                await reopened.close()
                #expect(!FileManager.default.fileExists(atPath: configuration.directory + "/" + SnapshotTransfer.installingMarker))
            }
        }
    }
}

