import NIOCore
import SluiceReplication
import Testing

/// An epoch answer as `[epoch, end]`, easy to compare.
private func answer(_ found: (epoch: Int64, endOffset: UInt64)) -> [Int64] { [found.epoch, Int64(found.endOffset)] }

@Suite("replication: epoch history and divergence")
struct EpochHistoryTests {
    private func history(_ pairs: [(Int64, UInt64)]) throws -> EpochHistory {
        try EpochHistory(checking: pairs.map { EpochHistory.Entry(epoch: $0.0, startOffset: $0.1) })
    }

    @Test("the leader answers where an epoch ends: the next epoch's start, or its own end for the newest")
    func endOffsets() throws {
        let leader = try history([(1, 0), (2, 500), (4, 900)])
        #expect(answer(leader.endOffset(of: 1, logEnd: 1200)) == [1, 500])
        #expect(answer(leader.endOffset(of: 2, logEnd: 1200)) == [2, 900])
        // Epoch 3 never wrote on the leader: the largest epoch below it is 2, ending at 900.
        #expect(answer(leader.endOffset(of: 3, logEnd: 1200)) == [2, 900])
        #expect(answer(leader.endOffset(of: 4, logEnd: 1200)) == [4, 1200])
        #expect(answer(leader.endOffset(of: 9, logEnd: 1200)) == [4, 1200])
        // Older than anything known: up to where the first known epoch starts.
        #expect(answer(try history([(3, 100)]).endOffset(of: 1, logEnd: 400)) == [0, 100])
        #expect(answer(EpochHistory().endOffset(of: 5, logEnd: 70)) == [0, 70])
    }

    @Test("a deposed leader's unacknowledged tail is found and cut; a follower that is behind keeps everything")
    func divergencePoints() throws {
        // Old leader wrote epoch 2 from 500 to 800; the new leader (epoch 3) had only up to 650.
        let newLeader = try history([(1, 0), (2, 500), (3, 650)])
        let found = newLeader.endOffset(of: 2, logEnd: 1000)
        #expect(answer(found) == [2, 650])
        #expect(Divergence.truncationPoint(followerEnd: 800, leaderAnswerEnd: found.endOffset) == 650)
        // A follower behind the leader has nothing to cut.
        #expect(Divergence.truncationPoint(followerEnd: 600, leaderAnswerEnd: found.endOffset) == nil)
        #expect(Divergence.truncationPoint(followerEnd: 650, leaderAnswerEnd: 650) == nil)
    }

    @Test("beginning an epoch drops newer or later entries and refuses an epoch that is not newer")
    func begin() throws {
        var epochs = try history([(1, 0), (2, 500)])
        try epochs.begin(epoch: 3, at: 700)
        #expect(epochs.entries.map(\.epoch) == [1, 2, 3])
        #expect(epochs.lastEpoch == 3)
        // After truncation to 400 a new term starts there: the entry for 2 (start 500) goes.
        var truncated = try history([(1, 0), (2, 500)])
        truncated.truncate(to: 400)
        try truncated.begin(epoch: 5, at: 400)
        #expect(truncated.entries == [.init(epoch: 1, startOffset: 0), .init(epoch: 5, startOffset: 400)])
        var dropped = try history([(1, 0), (2, 500), (3, 600)])
        dropped.dropEpochs(after: 1)
        #expect(dropped.entries == [.init(epoch: 1, startOffset: 0)])
        #expect(throws: ReplicationError.self) { _ = try history([(2, 0), (2, 10)]) }
        #expect(throws: ReplicationError.self) { _ = try history([(1, 100), (2, 10)]) }
    }

    @Test("the history file round-trips and a damaged one is refused")
    func fileFormat() throws {
        let epochs = try history([(1, 0), (7, 4096)])
        #expect(String(decoding: epochs.fileBytes, as: UTF8.self) == "1 0\n7 4096\n")
        #expect(try EpochHistory(fileBytes: epochs.fileBytes) == epochs)
        #expect(throws: ReplicationError.self) { _ = try EpochHistory(fileBytes: Array("1 0\nseven 9\n".utf8)) }
        #expect(EpochHistory.adopted(from: epochs, upTo: 100).entries == [.init(epoch: 1, startOffset: 0)])
    }

    @Test("an epoch below 1 is refused (a follower holding one could never reconcile: found by the hostile-leader seed 17494395961043657358)")
    func epochsStartAtOne() throws {
        for first: Int64 in [0, -5, .min] {
            let error = #expect(throws: ReplicationError.self) {
                _ = try EpochHistory(checking: [.init(epoch: first, startOffset: 0), .init(epoch: 3, startOffset: 10)])
            }
            #expect(error?.code == .malformedFrame)
            #expect(throws: ReplicationError.self) { _ = try EpochHistory(fileBytes: Array("\(first) 0\n".utf8)) }
        }
        #expect(try EpochHistory(checking: [.init(epoch: 1, startOffset: 0)]).lastEpoch == 1)
    }

    @Test("the candidacy order compares the last epoch first, then the log's length")
    func candidacyOrder() {
        let behind = ReplicaStatus(nodeID: "a", isLeader: false, lastEpoch: 3, endOffset: 900)
        let ahead = ReplicaStatus(nodeID: "b", isLeader: false, lastEpoch: 3, endOffset: 1000)
        let oldLongTail = ReplicaStatus(nodeID: "c", isLeader: false, lastEpoch: 2, endOffset: 5000)
        #expect(ahead.isMoreComplete(than: behind))
        #expect(!behind.isMoreComplete(than: ahead))
        #expect(behind.isMoreComplete(than: oldLongTail))
        #expect(!ahead.isMoreComplete(than: ahead))
    }
}

@Suite("replication: wire frames")
struct ReplicationMessageTests {
    private func roundTrip(_ message: ReplicationMessage) throws -> ReplicationMessage {
        var frame = message.encoded()
        let prefix = frame.readInteger(endianness: .little, as: UInt32.self)
        let length = try #require(prefix)
        #expect(Int(length) == frame.readableBytes)
        return try ReplicationMessage.decode(frame)
    }

    @Test("every message kind survives encoding and decoding")
    func roundTrips() throws {
        let history = try EpochHistory(checking: [.init(epoch: 1, startOffset: 0), .init(epoch: 2, startOffset: 77)])
        let messages: [ReplicationMessage] = [
            .fetch(.init(epoch: 4, offset: 123_456, maxBytes: 1 << 20, waitMs: 500, nodeID: "node-b")),
            .fetchResult(
                .init(
                    leaderEpoch: 4, leaderEnd: 200, highWatermark: 150, history: history, chunkStart: 100, chunkNext: 105,
                    bytes: ByteBuffer(bytes: [1, 2, 3, 4, 5]))),
            .fetchResult(
                .init(
                    leaderEpoch: 4, leaderEnd: 8192, highWatermark: 0, history: EpochHistory(), chunkStart: 4000,
                    chunkNext: 4096, bytes: ByteBuffer())),
            .epochQuery(epoch: 3),
            .epochAnswer(leaderEpoch: 5, epoch: 3, endOffset: 999),
            .statusQuery,
            .status(ReplicaStatus(nodeID: "node-c", isLeader: true, lastEpoch: 9, endOffset: 1 << 40, startOffset: 1 << 30)),
            .refusal(.init(reason: .staleEpoch, leaderEpoch: 6, message: "epoch 5 is over")),
            .refusal(.init(reason: .snapshotNeeded, leaderEpoch: 6, message: "before the leader's start")),
            .snapshotRequest(nodeID: "node-b"),
            .snapshotReady(
                SnapshotManifest(
                    id: .max, logStart: 1 << 32, history: history,
                    files: [.init(name: "transactions.sqlite", size: 1 << 33, crc32c: .max), .init(name: "r.json", size: 0, crc32c: 0)])),
            .snapshotReady(SnapshotManifest(id: 1, logStart: 0, history: EpochHistory(), files: [])),
            .snapshotRead(id: 7, file: 1, offset: .max, maxBytes: .max),
            .snapshotData(ByteBuffer(bytes: [9, 8, 7])),
            .snapshotData(ByteBuffer()),
            .hello(nodeID: "node-b", nonce: [UInt8](repeating: 0xAB, count: 32)),
            .challenge(nonce: [UInt8](repeating: 1, count: 32), proof: [UInt8](repeating: 0xFF, count: 32)),
            .proof([UInt8](repeating: 0, count: 32)),
            .welcome,
            .refusal(.init(reason: .unauthenticated, leaderEpoch: 1, message: "no key")),
        ]
        for message in messages { #expect(try roundTrip(message) == message) }
    }

    @Test("a snapshot manifest naming a file outside the data folder is refused", arguments: ["../x", "a/b", "..", ".", ""])
    func snapshotFileNames(name: String) throws {
        let manifest = SnapshotManifest(
            id: 1, logStart: 0, history: EpochHistory(), files: [.init(name: name, size: 1, crc32c: 0)])
        var frame = ReplicationMessage.snapshotReady(manifest).encoded()
        frame.moveReaderIndex(forwardBy: 4)
        let error = #expect(throws: ReplicationError.self) { _ = try ReplicationMessage.decode(frame) }
        #expect(error?.code == .malformedFrame)
    }

    @Test("truncated, unknown and inconsistent frames are refused with malformedFrame", arguments: [
        [UInt8]([]), [99], [3, 1, 2], [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3], [5, 0],
    ])
    func malformed(bytes: [UInt8]) {
        let error = #expect(throws: ReplicationError.self) { _ = try ReplicationMessage.decode(ByteBuffer(bytes: bytes)) }
        #expect(error?.code == .malformedFrame)
    }
}
