import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Synchronization
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
                accepted = try await SnapshotTransfer.download(from: target, nodeID: "f", key: testKey, directory: configuration.directory, logger: quietLogger)
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

    @Test("a snapshot larger than the disk's free space (or than 2^64 bytes) is refused before a byte is written")
    func snapshotLargerThanTheDisk() async throws {
        try await withTemporaryDirectory { root in
            for sizes in [[UInt64.max], [UInt64.max / 2, UInt64.max / 2 + 2], [1 << 62]] {
                let peer = try await ScriptedPeer { request in
                    guard case .snapshotRequest? = request else { return [ReplicationMessage.snapshotData(ByteBuffer(string: "x")).encoded()] }
                    let files = sizes.enumerated().map { SnapshotManifest.File(name: "derived\($0.offset)", size: $0.element, crc32c: 0) }
                    return [ReplicationMessage.snapshotReady(SnapshotManifest(id: 1, logStart: 0, history: EpochHistory(), files: files)).encoded()]
                }
                let target = LeaderTarget(nodeID: "hostile", epoch: 1, host: "127.0.0.1", port: peer.port)
                let error = await #expect(throws: ReplicationError.self) {
                    _ = try await SnapshotTransfer.download(from: target, nodeID: "f", key: testKey, directory: root, logger: quietLogger)
                }
                await peer.stop()
                #expect(error?.code == .storage, "\(sizes): \(String(describing: error))")
                #expect(error?.message.contains("bytes free") == true, "\(String(describing: error))")
                let written = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + SnapshotTransfer.partialFolder)) ?? []
                #expect(written.isEmpty, "\(sizes): \(written)")
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

    @Test("seeded hostile answers to every request of a follower's session and snapshot download: no trap, and it copies a real leader afterwards")
    func hostileAnswers() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("hostile leader seed \(seed) (replay: SLUICE_FUZZ_SEED=\(seed))")
        try await withTemporaryDirectory { root in
            let answers = Mutex(HostileAnswers(seed: seed))
            let exchanges = Atomic(0)
            let peer = try await ScriptedPeer { request in
                exchanges.add(1, ordering: .relaxed)
                return answers.withLock { $0.answer(to: request) }
            }
            var logConfiguration = CommitLogConfiguration(directory: root + "/follower")
            logConfiguration.segmentSizeBytes = 16384
            let log = try await CommitLog.open(logConfiguration, logger: quietLogger)
            for index in 0..<20 { _ = try await log.append(record("local \(index)")) }
            var configuration = ReplicaConfiguration(
                nodeID: "follower", replicas: 3, mode: .async, timeout: .seconds(5), host: "127.0.0.1", port: 0, key: testKey)
            configuration.fetchWait = .milliseconds(50)
            let follower = try await Replica.open(log: log, configuration: configuration, logger: quietLogger)
            let running = Task { await follower.run() }
            follower.follow(LeaderTarget(nodeID: "hostile", epoch: 3, host: "127.0.0.1", port: peer.port))
            let deadline = ContinuousClock.now + .seconds(40)
            while exchanges.load(ordering: .relaxed) < 300, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            // Snapshot downloads against the same answers.
            let target = LeaderTarget(nodeID: "hostile", epoch: 3, host: "127.0.0.1", port: peer.port)
            for index in 0..<40 {
                let directory = root + "/download-\(index)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                _ = try? await SnapshotTransfer.download(from: target, nodeID: "follower", key: testKey, directory: directory, logger: quietLogger)
            }
            let seen = exchanges.load(ordering: .relaxed)
            print("hostile leader: \(seen) exchanges")
            #expect(seen >= 100, "the follower barely talked to the hostile leader")

            // Still a working follower: a real leader's log is copied.
            let leaderLog = try await CommitLog.open(CommitLogConfiguration(directory: root + "/leader"), logger: quietLogger)
            let leader = try await Replica.open(
                log: leaderLog,
                configuration: ReplicaConfiguration(nodeID: "leader", replicas: 3, mode: .async, timeout: .seconds(5), host: "127.0.0.1", port: 0, key: testKey),
                logger: quietLogger)
            let leading = Task { await leader.run() }
            try await leader.becomeLeader(epoch: 5)
            for index in 0..<5 { _ = try await leaderLog.append(record("real \(index)")) }
            follower.follow(LeaderTarget(nodeID: "leader", epoch: 5, host: "127.0.0.1", port: leader.boundPort!))
            let copyDeadline = ContinuousClock.now + .seconds(30)
            while log.endOffset != leaderLog.endOffset, ContinuousClock.now < copyDeadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(
                log.endOffset == leaderLog.endOffset,
                "the follower did not copy the real leader after the hostile one: \(follower.snapshot.lastError ?? "no error")")
            await peer.stop()
            for task in [running, leading] { task.cancel() }
            await running.value
            await leading.value
            await log.close()
            await leaderLog.close()
        }
    }
}

/// Answers a hostile leader gives: the kind asked for with edge values, another kind, a refusal
/// with any reason, garbage, a frame cut short, extra frames nobody asked for, or none at all.
struct HostileAnswers {
    var random: SplitMix64
    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func below(_ bound: Int) -> Int { Int(random.next() % UInt64(max(1, bound))) }
    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }
    mutating func offset() -> UInt64 {
        pick([0, 1, 7, 100, 4096, 16384, 16383, 1 << 62, (1 << 62) + 1, UInt64(Int64.max), .max, .max - 16384, random.next()])
    }
    mutating func epoch() -> Int64 { pick([0, 1, 2, 3, 4, -1, .min, .max, Int64(bitPattern: random.next())]) }
    mutating func history() -> EpochHistory {
        var entries: [EpochHistory.Entry] = []
        var epoch: Int64 = pick([-5, 0, 1, 3, .max - 3])
        var start: UInt64 = pick([0, 100, .max - 10])
        for _ in 0..<below(4) {
            entries.append(.init(epoch: epoch, startOffset: start))
            epoch = epoch < .max ? epoch + 1 : epoch
            start = start &+ UInt64(below(1 << 20))
        }
        return (try? EpochHistory(checking: entries)) ?? EpochHistory()
    }
    mutating func bytes(_ count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }

    mutating func message(for request: ReplicationMessage?) -> ReplicationMessage {
        let asked: Int
        switch request {
        case .fetch?: asked = 0
        case .epochQuery?: asked = 1
        case .snapshotRequest?: asked = 2
        case .snapshotRead?: asked = 3
        default: asked = 4
        }
        let kind = below(3) == 0 ? below(6) : asked
        switch kind {
        case 0:
            let start = pick([offset(), offset(), 0])
            let count = pick([0, 0, 1, 40, 200])
            let next = count == 0 ? pick([start, start &+ 1, start &+ 16384, offset()]) : start &+ UInt64(count)
            guard next >= start else { return message(for: nil) }
            return .fetchResult(
                .init(
                    leaderEpoch: epoch(), leaderEnd: offset(), highWatermark: offset(), history: history(), chunkStart: start,
                    chunkNext: next, bytes: bytes(count)))
        case 1:
            return .epochAnswer(leaderEpoch: epoch(), epoch: epoch(), endOffset: offset())
        case 2:
            let files = (0..<below(3)).map { index in
                SnapshotManifest.File(name: pick(["derived.state", "db", "x\(index)"]), size: pick([0, 1, 5, 1 << 20]), crc32c: UInt32(truncatingIfNeeded: random.next()))
            }
            return .snapshotReady(SnapshotManifest(id: random.next(), logStart: pick([0, 100, 1 << 62, 16384]), history: history(), files: files))
        case 3:
            return .snapshotData(bytes(pick([0, 1, 5, 100])))
        case 4:
            return .status(ReplicaStatus(nodeID: "hostile", isLeader: below(2) == 0, lastEpoch: epoch(), endOffset: offset(), startOffset: offset()))
        default:
            let reason = pick([ReplicationMessage.Refusal.Reason.notLeader, .staleEpoch, .offsetOutOfRange, .internalError, .snapshotNeeded, .malformedRequest, .overloaded])
            return .refusal(.init(reason: reason, leaderEpoch: epoch(), message: "hostile"))
        }
    }

    /// Frames cut short, raw garbage and silence only answer a session's fetches and epoch
    /// queries (whose deadline is seconds); a snapshot request's is ten minutes.
    mutating func answer(to request: ReplicationMessage?) -> [ByteBuffer] {
        let sessionCall: Bool
        switch request {
        case .fetch?, .epochQuery?: sessionCall = true
        default: sessionCall = false
        }
        switch below(200) {
        case 0 where sessionCall:
            return []
        case 1 where sessionCall:
            var frame = message(for: request).encoded()
            frame.moveWriterIndex(to: frame.readerIndex + below(frame.readableBytes))
            return [frame]
        case 2 where sessionCall:
            return [bytes(1 + below(64))]
        case 3..<18:
            // A frame of random bytes.
            let body = bytes(below(64))
            var frame = ByteBuffer()
            frame.writeInteger(UInt32(body.readableBytes), endianness: .little)
            frame.writeImmutableBuffer(body)
            return [frame]
        case 18..<25:
            var frame = ByteBuffer()
            frame.writeInteger(pick([UInt32.max, UInt32(64 << 20) + 1, 0]), endianness: .little)
            return [frame]
        case 25..<40:
            return [message(for: request).encoded(), message(for: nil).encoded()]
        default:
            return [message(for: request).encoded()]
        }
    }
}
