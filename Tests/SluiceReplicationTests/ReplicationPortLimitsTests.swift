import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceReplication

/// What a peer (or anyone reaching the replication port) sends is bounded and, when wrong,
/// answered with a refusal that says what was wrong.
@Suite("replication port: malformed frames, oversized frames, node ids, connection and table limits")
struct ReplicationPortLimitsTests {
    @Test("an undecodable frame is answered with a malformedRequest refusal naming the problem, then closed")
    func malformedFrameRefused() async throws {
        try await withLeader { _, port in
            for (body, problem) in [
                ([UInt8(0xEE)], "unknown message kind"), ([], "unknown message kind"),
                ([1, 0, 0], "ends before its epoch"), ([5, 0], "trailing bytes"),
            ] {
                let outcome = try await RawReplicationClient.send(rawFrame(body), to: port, expecting: 2)
                guard case .refusal(let refusal)? = outcome.answers.first else {
                    Issue.record("\(body) was answered with \(outcome.answers)")
                    continue
                }
                #expect(refusal.reason == .malformedRequest)
                #expect(refusal.message.contains(problem), "\(refusal.message)")
                #expect(outcome.answers.count == 1 && outcome.closedByPeer)
            }
        }
    }

    @Test("a malformed frame after a large answer, more bytes after it: the answer and the refusal both arrive whole before the close")
    func refusalAfterLargeAnswer() async throws {
        try await withLeader(configure: { $0.fetchMaxBytes = 32 << 20 }) { leader, port in
            for index in 0..<40 {
                _ = try await leader.log.append(
                    MessageRecord(
                        topic: "orders", queueId: 0, messageId: "", tags: "", keys: [], properties: [],
                        body: ByteBuffer(repeating: UInt8(index), count: 512 << 10), bornTimestampMs: 1_700_000_000_000))
            }
            // A fetch of the whole log (20 MiB: more than the kernel's buffers hold, so the rest
            // waits in the server's queue), a bad frame, and more requests than the server reads
            // ahead (they stay unread in its socket), in one write, from a peer that reads slowly.
            var bytes = ReplicationMessage.fetch(.init(epoch: 1, offset: 0, maxBytes: .max, waitMs: 0, nodeID: "f")).encoded()
            bytes.writeImmutableBuffer(rawFrame([0xEE]))
            for _ in 0..<20_000 { bytes.writeImmutableBuffer(ReplicationMessage.statusQuery.encoded()) }
            let received = await slowReader(port: port, bytes: Array(buffer: bytes))
            let (answers, leftover) = splitFrames(received)
            #expect(leftover == 0, "\(leftover) bytes of an answer cut off at the close (\(received.count) received)")
            guard answers.count == 2, case .fetchResult(let result)? = answers[0], case .refusal(let refusal)? = answers[1] else {
                Issue.record("answered \(answers.map { "\(String(describing: $0))".prefix(80) }) (\(received.count) bytes)")
                return
            }
            #expect(result.chunkNext == leader.log.endOffset)
            #expect(refusal.reason == .malformedRequest)
        }
    }

    @Test("a length prefix past the request limit is refused as soon as it arrives, not buffered", arguments: [
        UInt32(ReplicationMessage.maxRequestBytes + 1), 1 << 20, UInt32(ReplicationMessage.maxFrameBytes), UInt32.max,
    ])
    func oversizedFrameRefused(length: UInt32) async throws {
        try await withLeader { _, port in
            var bytes = ByteBuffer()
            bytes.writeInteger(length, endianness: .little)
            bytes.writeBytes([1, 2, 3, 4, 5, 6, 7, 8])
            let outcome = try await RawReplicationClient.send(bytes, to: port, expecting: 1, within: .seconds(5))
            guard case .refusal(let refusal)? = outcome.answers.first else {
                Issue.record("a \(length)-byte frame prefix was answered with \(outcome.answers) (closed: \(outcome.closedByPeer))")
                return
            }
            #expect(refusal.reason == .malformedRequest)
            #expect(refusal.message == "frame of \(length) bytes; limit \(ReplicationMessage.maxRequestBytes)")
        }
    }

    @Test("a node id that is empty, too long, or has spaces or a slash is refused at the wire")
    func nodeIDChecked() async throws {
        try await withLeader { leader, port in
            for node in ["", String(repeating: "n", count: 256), String(repeating: "é", count: 200), "a b", "a/b", "a\u{0}", "x\u{7F}"] {
                for request in [
                    ReplicationMessage.fetch(.init(epoch: 1, offset: 0, maxBytes: 16, waitMs: 0, nodeID: node)),
                    .snapshotRequest(nodeID: node),
                ] {
                    let outcome = try await RawReplicationClient.send(request.encoded(), to: port, expecting: 1)
                    guard case .refusal(let refusal)? = outcome.answers.first, refusal.reason == .malformedRequest else {
                        Issue.record("node id of \(node.utf8.count) bytes answered with \(outcome.answers)")
                        continue
                    }
                    #expect(refusal.message.contains("nodeID"), "\(refusal.message)")
                }
            }
            #expect(leader.snapshot.followers.isEmpty)
            // The longest valid one is served.
            let longest = String(repeating: "n", count: 255)
            let outcome = try await RawReplicationClient.send(
                ReplicationMessage.fetch(.init(epoch: 1, offset: 0, maxBytes: 16, waitMs: 0, nodeID: longest)).encoded(), to: port,
                expecting: 1)
            guard case .fetchResult? = outcome.answers.first else {
                Issue.record("a 255-byte node id was answered with \(outcome.answers)")
                return
            }
        }
    }

    @Test("fetches and snapshot requests naming a new node each time do not grow the leader's tables")
    func nodeTablesBounded() async throws {
        try await withLeader { leader, port in
            let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
            try await connection.executeThenClose { inbound, outbound in
                var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: connection.channel)
                try await call.authenticate(as: "t", key: testKey, peer: "leader", deadline: .seconds(5))
                for index in 0..<(AcknowledgementTracker.maxFollowers + 40) {
                    let reply = try await call.call(
                        .fetch(.init(epoch: 1, offset: 0, maxBytes: 16, waitMs: 0, nodeID: "node-\(index)")), deadline: .seconds(10))
                    guard case .fetchResult = reply else { throw ReplicationError(.unexpectedMessage, "fetch answered \(reply)") }
                }
                for index in 0..<(Replica.maxSnapshotHolds + 10) {
                    let reply = try await call.call(.snapshotRequest(nodeID: "taker-\(index)"), deadline: .seconds(10))
                    guard case .snapshotReady = reply else { throw ReplicationError(.unexpectedMessage, "snapshot answered \(reply)") }
                }
            }
            let followers = leader.snapshot.followers
            #expect(followers.count == AcknowledgementTracker.maxFollowers)
            // The ones that fetched last are the ones kept.
            #expect(followers["node-\(AcknowledgementTracker.maxFollowers + 39)"] == 0)
            #expect(followers["node-0"] == nil)
            #expect(leader.state.withLock { $0.snapshotHolds.count } == Replica.maxSnapshotHolds)
        }
    }

    @Test("a connection past the limit is refused as overloaded; a place freed is taken again")
    func connectionLimit() async throws {
        try await withLeader(configure: { $0.maxConnections = 4 }) { _, port in
            var open: [HeldConnection] = []
            for _ in 0..<4 {
                let connection = try await HeldConnection(port: port)
                let outcome = await connection.ask(.statusQuery)
                guard case .status? = outcome else {
                    Issue.record("a connection within the limit was answered \(String(describing: outcome))")
                    return
                }
                open.append(connection)
            }
            let refused = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 2)
            guard case .refusal(let refusal)? = refused.answers.first else {
                Issue.record("the fifth connection was answered \(refused.answers)")
                return
            }
            #expect(refusal.reason == .overloaded)
            #expect(refusal.message == "4 replication connections are open; limit 4")
            #expect(refused.answers.count == 1 && refused.closedByPeer)

            await open.removeFirst().close()
            var served = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !served, ContinuousClock.now < deadline {
                let outcome = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1)
                if case .status? = outcome.answers.first { served = true } else { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(served)
            for connection in open { await connection.close() }
        }
    }

    @Test("a long poll whose asker went away gives its place on the port back at once, not after its wait")
    func abandonedLongPollFreesItsPlace() async throws {
        try await withLeader(configure: { $0.maxConnections = 1 }) { leader, port in
            // A fetch at the log's end waits up to 10 s for new records; the asker leaves after 200 ms.
            let poll = ReplicationMessage.fetch(.init(epoch: 1, offset: leader.log.endOffset, maxBytes: 1024, waitMs: 10_000, nodeID: "poller"))
            let abandoned = try await RawReplicationClient.send(poll.encoded(), to: port, expecting: 1, within: .milliseconds(200))
            #expect(abandoned.answers.isEmpty)
            let left = ContinuousClock.now
            var served = false
            while !served, ContinuousClock.now - left < .seconds(15) {
                let outcome = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1)
                if case .status? = outcome.answers.first { served = true } else { try await Task.sleep(for: .milliseconds(50)) }
            }
            let waited = ContinuousClock.now - left
            #expect(served && waited < .seconds(3), "the only place was free again after \(waited)")
        }
    }

    @Test("snapshots past the group's size are refused as overloaded; a connection replacing its own keeps its place")
    func snapshotOfferLimit() async throws {
        try await withLeader(replicas: 3) { leader, port in
            let limit = leader.configuration.maxSnapshotOffers
            var open: [HeldConnection] = []
            for index in 0..<limit {
                let connection = try await HeldConnection(port: port)
                let answer = await connection.ask(.snapshotRequest(nodeID: "f\(index)"))
                guard case .snapshotReady? = answer else {
                    Issue.record("snapshot \(index) answered \(String(describing: answer))")
                    return
                }
                open.append(connection)
            }
            let extra = try await RawReplicationClient.send(ReplicationMessage.snapshotRequest(nodeID: "late").encoded(), to: port, expecting: 1)
            guard case .refusal(let refusal)? = extra.answers.first else {
                Issue.record("a snapshot past the limit answered \(extra.answers)")
                return
            }
            #expect(refusal.reason == .overloaded)
            #expect(refusal.message == "\(limit) snapshots are being served; limit \(limit)")
            let again = await open[0].ask(.snapshotRequest(nodeID: "f0"))
            guard case .snapshotReady? = again else {
                Issue.record("replacing its own snapshot answered \(String(describing: again))")
                return
            }
            for connection in open { await connection.close() }
            let deadline = ContinuousClock.now + .seconds(10)
            while leader.state.withLock({ $0.snapshotOffers }) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(leader.state.withLock { $0.snapshotOffers } == 0)
        }
    }
}

