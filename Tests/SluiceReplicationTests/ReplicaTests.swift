import Foundation
import Logging
import Synchronization
import NIOCore
import SluiceReplication
import SluiceStorage
import SluiceTesting
import Testing

private let quiet: Logger = {
    var logger = Logger(label: "replica-test")
    logger.logLevel = .critical
    return logger
}()

private func logConfiguration(_ directory: String) -> CommitLogConfiguration {
    var configuration = CommitLogConfiguration(directory: directory)
    configuration.segmentSizeBytes = 16384
    configuration.queueIndexEntriesPerFile = 64
    configuration.keyIndexEntriesPerFile = 256
    return configuration
}

private func record(_ text: String, queue: UInt32 = 0) -> MessageRecord {
    MessageRecord(
        topic: "orders", queueId: queue, messageId: "", tags: "", keys: [], properties: [], body: ByteBuffer(string: text),
        bornTimestampMs: 1_700_000_000_000)
}

/// A replica over a real log in a temp folder, serving on a free loopback port, run by a task.
private final class Node: Sendable {
    let log: CommitLog
    let replica: Replica
    let task: Task<Void, Never>
    let name: String

    init(
        _ name: String, directory: String, replicas: Int = 3, timeout: Duration = .seconds(10),
        beforeLogSync: (@Sendable () -> Void)? = nil
    ) async throws {
        self.name = name
        var logConfiguration = logConfiguration(directory)
        logConfiguration.beforeLogSync = beforeLogSync
        let log = try await CommitLog.open(logConfiguration, logger: quiet)
        var configuration = ReplicaConfiguration(
            nodeID: name, replicas: replicas, mode: .sync, timeout: timeout, host: "127.0.0.1", port: 0, key: testKey)
        configuration.fetchWait = .milliseconds(100)
        let replica = try await Replica.open(log: log, configuration: configuration, logger: quiet)
        self.log = log
        self.replica = replica
        task = Task { await replica.run() }
    }

    func target(epoch: Int64) -> LeaderTarget {
        LeaderTarget(nodeID: name, epoch: epoch, host: "127.0.0.1", port: replica.boundPort!)
    }

    func stop() async {
        task.cancel()
        await task.value
        await log.close()
    }
}

/// Holds the leader's log syncs while closed (on the writer thread, which blocks there).
private final class SyncGate: Sendable {
    private let state = Mutex(true)
    func close() { state.withLock { $0 = false } }
    func open() { state.withLock { $0 = true } }
    /// Waits (up to 30 s, so a failing test cannot hang) until open.
    func pass() {
        let deadline = ContinuousClock.now + .seconds(30)
        while !state.withLock({ $0 }), ContinuousClock.now < deadline { usleep(1000) }
    }
}

/// Waits (bounded) until `condition` holds, polling every 20 ms.
private func eventually(_ what: String, within: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + within
    while !condition() {
        if ContinuousClock.now > deadline { throw ReplicaTestFailure(what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

private struct ReplicaTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "timed out waiting until \(description)" }
}

@Suite("replication: leader and followers over loopback", .serialized)
struct ReplicaTests {
    @Test("a sync append returns once a follower holds it; followers end where the leader ends")
    func syncAcknowledgement() async throws {
        try await withTemporaryDirectory { root in
            let a = try await Node("a", directory: root + "/a")
            let b = try await Node("b", directory: root + "/b")
            let c = try await Node("c", directory: root + "/c")
            // Before the election nobody takes appends.
            let early = await #expect(throws: StorageError.self) { _ = try await a.log.append(record("too early")) }
            #expect(early?.code == .notLeader)

            try await a.replica.becomeLeader(epoch: 1)
            b.replica.follow(a.target(epoch: 1))
            c.replica.follow(a.target(epoch: 1))
            var results: [AppendResult] = []
            for index in 0..<200 { results.append(try await a.log.append(record("m\(index)" + String(repeating: "z", count: index), queue: UInt32(index % 4)))) }
            let last = results.last!
            let end = last.physicalOffset + UInt64(last.size)
            // Acknowledged means at least one follower already holds every byte (1 of 2 needed).
            #expect(max(b.log.endOffset, c.log.endOffset) >= end)
            try await eventually("both followers caught up") { b.log.endOffset == end && c.log.endOffset == end }
            for result in results {
                #expect(String(buffer: try b.log.read(at: result.physicalOffset).body) == String(buffer: try a.log.read(at: result.physicalOffset).body))
            }
            #expect(b.log.queueBounds(QueueID(topic: "orders", queueId: 3)).next == 50)
            // Followers refuse local appends.
            let refused = await #expect(throws: StorageError.self) { _ = try await b.log.append(record("not here")) }
            #expect(refused?.code == .notLeader)
            #expect(a.replica.snapshot.role == .leader)
            #expect(a.replica.snapshot.highWatermark == end)
            for node in [a, b, c] { await node.stop() }
        }
    }

    @Test("a follower copies a batch while the leader is still syncing it; the append returns once both hold it")
    func followersCopyBeforeTheLeadersSync() async throws {
        try await withTemporaryDirectory { root in
            // The leader's syncs wait at a gate the test opens: a batch written, not yet synced.
            let gate = SyncGate()
            let a = try await Node("a", directory: root + "/a", beforeLogSync: { gate.pass() })
            let b = try await Node("b", directory: root + "/b")
            try await a.replica.becomeLeader(epoch: 1)
            b.replica.follow(a.target(epoch: 1))
            _ = try await a.log.append(record("before the gate"))
            let start = a.log.endOffset
            gate.close()
            let append = Task { try await a.log.append(record("written, sync held")) }
            try await eventually("the leader wrote the batch") { a.log.replicableEnd > start }
            let written = a.log.replicableEnd
            // Copied, durable on the follower, while the leader's own sync still waits.
            try await eventually("the follower copied the unsynced batch") { b.log.endOffset == written }
            #expect(a.log.endOffset == start, "the leader's readable end moved before its sync")
            #expect(a.replica.snapshot.highWatermark <= start, "the mark passed what the leader holds synced")
            gate.open()
            let result = try await append.value
            #expect(result.physicalOffset + UInt64(result.size) == written)
            #expect(a.log.endOffset == written)
            try await eventually("the mark reaches the synced end") { a.replica.snapshot.highWatermark == written }
            for node in [a, b] { await node.stop() }
        }
    }

    @Test("without enough followers a sync append fails with replicationTimeout and is not acknowledged")
    func timeoutWithoutFollowers() async throws {
        try await withTemporaryDirectory { root in
            let a = try await Node("a", directory: root + "/a", timeout: .milliseconds(300))
            try await a.replica.becomeLeader(epoch: 1)
            let started = ContinuousClock.now
            let error = await #expect(throws: StorageError.self) { _ = try await a.log.append(record("alone")) }
            #expect(error?.code == .replicationTimeout)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            // A single-replica group needs no follower.
            await a.stop()
            let solo = try await Node("solo", directory: root + "/solo", replicas: 1)
            try await solo.replica.becomeLeader(epoch: 1)
            _ = try await solo.log.append(record("alone is fine"))
            await solo.stop()
        }
    }

    @Test("a deposed leader truncates its unacknowledged tail and copies the new leader's log")
    func deposedLeaderTruncates() async throws {
        try await withTemporaryDirectory { root in
            // 3 s: long enough for the acknowledged appends on a loaded two-core CI machine; the
            // unacknowledged ones below wait it out concurrently, so the test pays it once.
            let a = try await Node("a", directory: root + "/a", timeout: .seconds(3))
            let b = try await Node("b", directory: root + "/b", timeout: .seconds(3))
            let c = try await Node("c", directory: root + "/c", timeout: .seconds(3))
            try await a.replica.becomeLeader(epoch: 1)
            b.replica.follow(a.target(epoch: 1))
            c.replica.follow(a.target(epoch: 1))
            var acknowledged: [AppendResult] = []
            for index in 0..<20 { acknowledged.append(try await a.log.append(record("acked \(index)"))) }
            let ackedEnd = acknowledged.last!.physicalOffset + UInt64(acknowledged.last!.size)
            try await eventually("followers caught up") { b.log.endOffset == ackedEnd && c.log.endOffset == ackedEnd }

            // The followers lose the leader (partition): its next appends are stored locally only.
            b.replica.follow(nil)
            c.replica.follow(nil)
            try await Task.sleep(for: .milliseconds(300))  // let their sessions notice
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<5 {
                    group.addTask {
                        let error = await #expect(throws: StorageError.self) { _ = try await a.log.append(record("unacked \(index)")) }
                        #expect(error?.code == .replicationTimeout)
                    }
                }
            }
            #expect(a.log.endOffset > ackedEnd)

            // b is elected (epoch 2) and writes; c follows b; a learns it was deposed.
            #expect(b.replica.shouldDefer(to: [c.replica.status]) == false)
            try await b.replica.becomeLeader(epoch: 2)
            c.replica.follow(b.target(epoch: 2))
            var second: [AppendResult] = []
            for index in 0..<10 { second.append(try await b.log.append(record("epoch two \(index)"))) }
            a.replica.follow(b.target(epoch: 2))
            let refused = await #expect(throws: StorageError.self) { _ = try await a.log.append(record("deposed")) }
            #expect(refused?.code == .notLeader)

            let bEnd = b.log.endOffset
            // The history is saved right after the chunk it came with: wait for both.
            try await eventually("the old leader matches the new one") {
                a.log.endOffset == bEnd && c.log.endOffset == bEnd && a.replica.history.entries.map(\.epoch) == [1, 2]
            }
            for result in acknowledged + second {
                #expect(String(buffer: try a.log.read(at: result.physicalOffset).body) == String(buffer: try b.log.read(at: result.physicalOffset).body))
            }
            #expect(a.log.queueBounds(QueueID(topic: "orders", queueId: 0)).next == 30)
            #expect(a.replica.history.entries.map(\.epoch) == [1, 2])
            for node in [a, b, c] { await node.stop() }
        }
    }

    @Test("a leader that sees a fetch for a newer epoch fences itself")
    func staleLeaderFencedByFetch() async throws {
        try await withTemporaryDirectory { root in
            let a = try await Node("a", directory: root + "/a", timeout: .seconds(5))
            let b = try await Node("b", directory: root + "/b")
            try await a.replica.becomeLeader(epoch: 1)
            // An append waits for a follower that will not come in epoch 1...
            let waiting = Task { try await a.log.append(record("never acknowledged")) }
            try await Task.sleep(for: .milliseconds(200))
            // ...while b was told epoch 3 leads at a's address (a stale view a paused leader wakes up to).
            b.replica.follow(a.target(epoch: 3))
            let result = await waiting.result
            #expect(throws: StorageError.self) { try result.get() }
            try await eventually("a fenced itself") { a.replica.snapshot.role == .follower }
            let refused = await #expect(throws: StorageError.self) { _ = try await a.log.append(record("after fencing")) }
            #expect(refused?.code == .notLeader)
            for node in [a, b] { await node.stop() }
        }
    }

    @Test("a peer's status answers over the replication port")
    func statusQuery() async throws {
        try await withTemporaryDirectory { root in
            let a = try await Node("a", directory: root + "/a", replicas: 1)
            try await a.replica.becomeLeader(epoch: 4)
            _ = try await a.log.append(record("x"))
            let status = try #require(await Replica.queryStatus(host: "127.0.0.1", port: a.replica.boundPort!, timeout: .seconds(1), nodeID: "t", key: testKey))
            #expect(status == ReplicaStatus(nodeID: "a", isLeader: true, lastEpoch: 4, endOffset: a.log.endOffset))
            await a.stop()
            #expect(await Replica.queryStatus(host: "127.0.0.1", port: a.replica.boundPort ?? 1, timeout: .milliseconds(300), nodeID: "t", key: testKey) == nil)
        }
    }
}
