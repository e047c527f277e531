import Foundation
import Logging
import NIOCore
import SluiceReplication
import SluiceStorage
import SluiceTesting
import Synchronization
import Testing

private let quiet: Logger = {
    var logger = Logger(label: "replica-snapshot-test")
    logger.logLevel = .critical
    return logger
}()

/// A clock the test moves forward to age segments past retention.
private final class TestClock: Sendable {
    let offsetMs = Mutex<Int64>(0)
    func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) + offsetMs.withLock { $0 } }
}

private func logConfiguration(_ directory: String, clock: TestClock) -> CommitLogConfiguration {
    var configuration = CommitLogConfiguration(directory: directory)
    configuration.segmentSizeBytes = 16384
    configuration.queueIndexEntriesPerFile = 64
    configuration.keyIndexEntriesPerFile = 256
    configuration.retention.maxAge = .seconds(3600)
    configuration.retention.maxDiskUsedFraction = 1.0
    configuration.retention.checkInterval = .seconds(3600)
    configuration.wallClockMs = { clock.now() }
    return configuration
}

/// The broker's derived state, as far as these tests are concerned: one file it writes on request.
struct FileCompanion: ReplicaCompanion {
    let text: String
    func willTruncate(to offset: UInt64) async throws {}
    func logTruncated() async {}
    func willLead() async {}
    func writeSnapshot(into directory: String) async throws -> [String] {
        try text.write(toFile: directory + "/derived.state", atomically: false, encoding: .utf8)
        return ["derived.state"]
    }
}

private func startReplica(_ name: String, log: CommitLog, companion: (any ReplicaCompanion)? = nil) async throws -> (Replica, Task<Void, Never>) {
    var configuration = ReplicaConfiguration(nodeID: name, replicas: 3, mode: .async, timeout: .seconds(10), host: "127.0.0.1", port: 0, key: testKey)
    configuration.fetchWait = .milliseconds(100)
    let replica = try await Replica.open(log: log, configuration: configuration, companion: companion, logger: quiet)
    return (replica, Task { await replica.run() })
}

private func eventually(_ what: String, within: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + within
    while !condition() {
        if ContinuousClock.now > deadline { Issue.record("timed out waiting until \(what)"); return }
        try await Task.sleep(for: .milliseconds(20))
    }
}

@Suite("replication: snapshot transfer past the leader's retention", .serialized)
struct ReplicaSnapshotTests {
    @Test("a replica behind the leader's retained start is refused and marked; a snapshot brings it back, its start is kept from retention until it fetches there, and it copies the rest")
    func snapshotAfterRetention() async throws {
        try await withTemporaryDirectory { root in
            let clock = TestClock()
            let leaderLog = try await CommitLog.open(logConfiguration(root + "/a", clock: clock), logger: quiet)
            let (leader, leaderTask) = try await startReplica("a", log: leaderLog, companion: FileCompanion(text: "derived at the leader"))
            try await leader.becomeLeader(epoch: 1)
            let target = LeaderTarget(nodeID: "a", epoch: 1, host: "127.0.0.1", port: leader.boundPort!)
            // Asynchronous replication: the leader alone takes appends.
            for index in 0..<60 {
                let record = MessageRecord(
                    topic: "orders", queueId: UInt32(index % 2), messageId: "", tags: "", keys: ["k\(index)"], properties: [],
                    body: ByteBuffer(string: "m\(index)" + String(repeating: "x", count: 900)), bornTimestampMs: 1_700_000_000_000)
                _ = try await leaderLog.append(record)
            }
            clock.offsetMs.withLock { $0 = 2 * 3_600_000 }
            #expect(!(await leaderLog.enforceRetention().deletedSegments.isEmpty))
            let start = leaderLog.minOffset
            #expect(start > 0)

            // A new, empty replica cannot copy: the leader refuses and it writes the marker.
            let lateLog = try await CommitLog.open(logConfiguration(root + "/c", clock: clock), logger: quiet)
            let (late, lateTask) = try await startReplica("c", log: lateLog)
            late.follow(target)
            // The marker is written before the session fails with the error: wait for both.
            try await eventually("the refused replica writes its marker and says what to do") {
                FileManager.default.fileExists(atPath: root + "/c/" + SnapshotTransfer.neededMarker)
                    && late.snapshot.lastError != nil
            }
            #expect(late.snapshot.lastError?.contains("restart this broker") == true, "\(late.snapshot.lastError ?? "")")
            #expect(lateLog.endOffset == 0)
            lateTask.cancel()
            await lateTask.value
            await lateLog.close()
            #expect(await SnapshotTransfer.markers(in: root + "/c").needed)

            // The snapshot: the companion's file and the leader's start and history.
            let configuration = logConfiguration(root + "/c", clock: clock)
            let manifest = try await SnapshotTransfer.download(from: target, nodeID: "c", key: testKey, directory: root + "/c", logger: quiet)
            #expect(manifest.logStart == start)
            #expect(manifest.files.map(\.name) == ["derived.state"])
            try await SnapshotTransfer.install(manifest, configuration: configuration, derived: ["derived.state"], logger: quiet)
            #expect(try String(contentsOfFile: root + "/c/derived.state", encoding: .utf8) == "derived at the leader")
            #expect(!(await SnapshotTransfer.markers(in: root + "/c").needed))
            try await eventually("the leader removes the snapshot it wrote once the connection ends") {
                ((try? FileManager.default.contentsOfDirectory(atPath: root + "/a")) ?? []).allSatisfy { !$0.hasPrefix("snapshot-out-") }
            }

            // Until the replica fetches from the snapshot's start, the leader's retention keeps it,
            // however old the segments grow meanwhile.
            for index in 0..<40 {
                _ = try await leaderLog.append(
                    MessageRecord(
                        topic: "orders", queueId: 1, messageId: "", tags: "", keys: [], properties: [],
                        body: ByteBuffer(string: "more\(index)" + String(repeating: "y", count: 900)), bornTimestampMs: 1_700_000_000_000))
            }
            let held = await leaderLog.enforceRetention()
            #expect(held.blockedByPin && held.deletedSegments.isEmpty)
            #expect(leaderLog.minOffset == start)

            // Reopened on the installed folder, it copies from the leader's start and what follows.
            let installed = try await CommitLog.open(configuration, logger: quiet)
            #expect(installed.minOffset == start && installed.endOffset == start)
            let (rebuilt, rebuiltTask) = try await startReplica("c", log: installed)
            #expect(rebuilt.history.lastEpoch == 1)
            rebuilt.follow(target)
            let queue = QueueID(topic: "orders", queueId: 0)
            // The end moves before the copied records' index entries are published: wait for both.
            try await eventually("the rebuilt replica catches up") {
                installed.endOffset == leaderLog.endOffset && installed.queueBounds(queue) == leaderLog.queueBounds(queue)
            }
            #expect(installed.queueBounds(queue) == leaderLog.queueBounds(queue))
            let first = installed.queueEntries(queue, from: 0, maxCount: 1).first
            #expect(try first.map { try installed.read($0, of: queue).queueOffset } == leaderLog.queueBounds(queue).min)
            let acknowledged = try await leaderLog.append(
                MessageRecord(
                    topic: "orders", queueId: 0, messageId: "", tags: "", keys: [], properties: [], body: ByteBuffer(string: "after"),
                    bornTimestampMs: 1_700_000_000_000))
            try await eventually("a later append reaches the rebuilt replica") { installed.endOffset == leaderLog.endOffset }
            #expect(try installed.read(at: acknowledged.physicalOffset).queueOffset == acknowledged.queueOffset)

            // Fetched from there: the hold is gone and retention goes on.
            #expect(!(await leaderLog.enforceRetention().deletedSegments.isEmpty))
            #expect(leaderLog.minOffset > start)

            rebuiltTask.cancel()
            await rebuiltTask.value
            await installed.close()
            leaderTask.cancel()
            await leaderTask.value
            await leaderLog.close()
        }
    }
}
