import Foundation
import Logging
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@testable import SluiceReplication

/// The leader's side of a snapshot read takes its numbers from the peer: none of them may trap.
@Suite("replication: snapshot reads with edge values are refused, the leader keeps serving")
struct SnapshotReadEdgeTests {
    @Test("file, offset and size at 0 and at their maximum; an unknown snapshot id")
    func edgeValues() async throws {
        try await withTemporaryDirectory { root in
            var logger = Logger(label: "snapshot-read-edge")
            logger.logLevel = .critical
            let log = try await CommitLog.open(CommitLogConfiguration(directory: root + "/a"), logger: logger)
            let configuration = ReplicaConfiguration(
                nodeID: "a", replicas: 3, mode: .async, timeout: .seconds(10), host: "127.0.0.1", port: 0, key: testKey)
            let leader = try await Replica.open(log: log, configuration: configuration, companion: FileCompanion(text: "state"), logger: logger)
            let running = Task { await leader.run() }
            try await leader.becomeLeader(epoch: 1)
            let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: leader.boundPort!, timeout: .seconds(5))
            try await connection.executeThenClose { inbound, outbound in
                var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: connection.channel)
                try await call.authenticate(as: "t", key: testKey, peer: "leader", deadline: .seconds(5))
                guard case .snapshotReady(let manifest) = try await call.call(.snapshotRequest(nodeID: "b"), deadline: .seconds(10))
                else {
                    Issue.record("no snapshot offered")
                    return
                }
                for (id, file, offset, maxBytes) in [
                    (manifest.id, UInt32.max, UInt64(0), UInt32(16)), (manifest.id, UInt32(1), 0, 16),
                    (manifest.id, 0, UInt64.max, 16), (manifest.id, 0, 6, UInt32.max), (manifest.id &+ 1, 0, 0, 16),
                    (UInt64.max, UInt32.max, UInt64.max, UInt32.max),
                ] {
                    let reply = try await call.call(
                        .snapshotRead(id: id, file: file, offset: offset, maxBytes: maxBytes), deadline: .seconds(10))
                    guard case .refusal = reply else {
                        Issue.record("read \(id)/\(file)/\(offset)/\(maxBytes) answered \(reply), not a refusal")
                        continue
                    }
                }
                // Still serving: zero bytes asked for reads at least one; the whole file at the end.
                #expect(try await call.call(.snapshotRead(id: manifest.id, file: 0, offset: 0, maxBytes: 0), deadline: .seconds(10))
                    == .snapshotData(ByteBuffer(string: "s")))
                #expect(try await call.call(.snapshotRead(id: manifest.id, file: 0, offset: 5, maxBytes: .max), deadline: .seconds(10))
                    == .snapshotData(ByteBuffer()))
                #expect(try await call.call(.snapshotRead(id: manifest.id, file: 0, offset: 0, maxBytes: .max), deadline: .seconds(10))
                    == .snapshotData(ByteBuffer(string: "state")))
            }
            running.cancel()
            await running.value
            await log.close()
        }
    }
}
