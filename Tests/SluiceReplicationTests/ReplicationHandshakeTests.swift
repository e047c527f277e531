import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceReplication

/// The replication port serves only peers that prove they hold the group's key, and a follower
/// copies only from a leader that proves it too.
@Suite("replication port: the group key handshake")
struct ReplicationHandshakeTests {
    @Test("requests without the handshake are refused as unauthenticated and closed; a stranger's deposing fetch leaves the leader leading")
    func strangersRefused() async throws {
        try await withLeader { leader, port in
            let requests: [ReplicationMessage] = [
                .fetch(.init(epoch: .max, offset: 0, maxBytes: 1024, waitMs: 0, nodeID: "stranger")),
                .statusQuery, .epochQuery(epoch: 1), .snapshotRequest(nodeID: "stranger"),
                .snapshotRead(id: 1, file: 0, offset: 0, maxBytes: 16), .proof([UInt8](repeating: 0, count: 32)),
            ]
            for request in requests {
                let outcome = try await RawReplicationClient.send(request.encoded(), to: port, expecting: 2, authenticated: false)
                guard case .refusal(let refusal)? = outcome.answers.first else {
                    Issue.record("\(request) without the handshake was answered \(outcome.answers)")
                    continue
                }
                #expect(refusal.reason == .unauthenticated)
                #expect(refusal.message.contains("must begin with the handshake"), "\(refusal.message)")
                #expect(outcome.answers.count == 1 && outcome.closedByPeer)
            }
            #expect(leader.snapshot.role == .leader)
            #expect(leader.snapshot.epoch == 1)
            #expect(leader.snapshot.followers.isEmpty, "a stranger's fetch was counted as a follower's")
            // The same fetch from a member does depose it (a member's epoch comes from etcd).
            let member = try await RawReplicationClient.send(requests[0].encoded(), to: port, expecting: 1)
            guard case .refusal(let refusal)? = member.answers.first else {
                Issue.record("a member's newer epoch was answered \(member.answers)")
                return
            }
            #expect(refusal.reason == .staleEpoch)
            #expect(leader.snapshot.role == .follower)
        }
    }

    @Test("a member's newer epoch deposes the leader only when the coordinator elected it; unknown to etcd it is refused")
    func memberEpochCheckedWithTheCoordinator() async throws {
        let fetch = ReplicationMessage.fetch(.init(epoch: 7, offset: 0, maxBytes: 1024, waitMs: 0, nodeID: "member"))
        // etcd's latest epoch is still the leader's own: the member's 7 was never elected.
        try await withLeader(configure: { $0.latestEpoch = { 1 } }) { leader, port in
            let answer = try await RawReplicationClient.send(fetch.encoded(), to: port, expecting: 1)
            guard case .refusal(let refusal)? = answer.answers.first else {
                Issue.record("an epoch etcd never gave out was answered \(answer.answers)")
                return
            }
            #expect(refusal.reason == .malformedRequest)
            #expect(refusal.message.contains("epoch 7 was never elected: the group's latest epoch is 1"), "\(refusal.message)")
            #expect(leader.snapshot.role == .leader)
            #expect(leader.snapshot.epoch == 1)
        }
        // etcd did elect 7: this leader was deposed.
        try await withLeader(configure: { $0.latestEpoch = { 7 } }) { leader, port in
            let answer = try await RawReplicationClient.send(fetch.encoded(), to: port, expecting: 1)
            guard case .refusal(let refusal)? = answer.answers.first else {
                Issue.record("a newer elected epoch was answered \(answer.answers)")
                return
            }
            #expect(refusal.reason == .staleEpoch)
            #expect(leader.snapshot.role == .follower)
        }
        // etcd cannot tell: the leader steps down (a lost term is safe, two leaders are not).
        try await withLeader(configure: { $0.latestEpoch = { nil } }) { leader, port in
            _ = try await RawReplicationClient.send(fetch.encoded(), to: port, expecting: 1)
            #expect(leader.snapshot.role == .follower)
        }
    }

    @Test("a forged proof is refused; a client holding another key refuses the server's proof before it sends its own")
    func wrongKeys() async throws {
        try await withLeader { _, port in
            let otherGroup = try ReplicationKey(secret: Array("sluice replication test secret".utf8), group: "other")
            let otherSecret = try ReplicationKey(secret: Array("another secret of the same group".utf8), group: "test")
            for key in [otherGroup, otherSecret] {
                // The server's side: a hello, then a proof made with the wrong key.
                let connection = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
                let refused = try await connection.executeThenClose { inbound, outbound in
                    var frames = inbound.makeAsyncIterator()
                    return try await handshake(&frames, outbound, key: key, checkServer: false)
                }
                guard case .refusal(let refusal)? = refused else {
                    Issue.record("a proof made with another key was answered \(String(describing: refused))")
                    continue
                }
                #expect(refusal.reason == .unauthenticated)
                #expect(refusal.message.contains("did not prove it holds this group's replication key"), "\(refusal.message)")
                // The client's side: the server's proof does not hold for our key.
                let client = try await ReplicationChannel.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
                let error: ReplicationError? = try await client.executeThenClose { inbound, outbound in
                    var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: client.channel)
                    do throws(ReplicationError) {
                        try await call.authenticate(as: "t", key: key, peer: "leader", deadline: .seconds(5))
                        return nil
                    } catch {
                        return error
                    }
                }
                #expect(error?.code == .unauthenticated)
                #expect(error?.message.contains("leader did not prove it holds this group's replication key") == true, "\(String(describing: error))")
                #expect(await Replica.queryStatus(host: "127.0.0.1", port: port, timeout: .seconds(2), nodeID: "t", key: key) == nil)
            }
            #expect(await Replica.queryStatus(host: "127.0.0.1", port: port, timeout: .seconds(2), nodeID: "t", key: testKey) != nil)
        }
    }

    @Test("a follower holding another group's key copies nothing and says why")
    func followerWithAnotherKey() async throws {
        try await withLeader { leader, port in
            _ = try await leader.log.append(
                MessageRecord(
                    topic: "orders", queueId: 0, messageId: "", tags: "", keys: [], properties: [], body: ByteBuffer(string: "x"),
                    bornTimestampMs: 1_700_000_000_000))
            try await withTemporaryDirectory { root in
                let log = try await CommitLog.open(CommitLogConfiguration(directory: root + "/f"), logger: quietLogger)
                let key = try ReplicationKey(secret: Array("sluice replication test secret".utf8), group: "other")
                var configuration = ReplicaConfiguration(
                    nodeID: "f", replicas: 3, mode: .async, timeout: .seconds(5), host: "127.0.0.1", port: 0, key: key)
                configuration.fetchWait = .milliseconds(50)
                let follower = try await Replica.open(log: log, configuration: configuration, logger: quietLogger)
                let running = Task { await follower.run() }
                follower.follow(LeaderTarget(nodeID: "leader", epoch: 1, host: "127.0.0.1", port: port))
                let deadline = ContinuousClock.now + .seconds(10)
                while follower.snapshot.lastError == nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(follower.snapshot.lastError?.contains("did not prove it holds this group's replication key") == true,
                    "\(String(describing: follower.snapshot.lastError))")
                #expect(log.endOffset == 0)
                #expect(leader.snapshot.followers.isEmpty)
                running.cancel()
                await running.value
                await log.close()
            }
        }
    }

    @Test("a replica without a key yet refuses every peer; once given one it serves")
    func keyArrivesLater() async throws {
        try await withLeader(configure: { $0.key = nil }) { leader, port in
            let outcome = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1)
            guard case .refusal(let refusal)? = outcome.answers.first else {
                Issue.record("a replica without a key answered \(outcome.answers)")
                return
            }
            #expect(refusal.reason == .unauthenticated)
            #expect(refusal.message.contains("no replication key yet"), "\(refusal.message)")
            leader.useKey(testKey)
            let served = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1)
            guard case .status? = served.answers.first else {
                Issue.record("with its key the replica answered \(served.answers)")
                return
            }
        }
    }

    @Test("a handshake left unfinished is closed after its timeout; hellos past the handshake places are refused as overloaded")
    func handshakePlaces() async throws {
        try await withLeader(configure: {
            $0.handshakeTimeout = .milliseconds(800)
            $0.maxHandshakes = 2
        }) { _, port in
            let hello = ReplicationMessage.hello(nodeID: "slowpoke", nonce: [UInt8](repeating: 1, count: 32)).encoded()
            // Two hellos never followed by a proof hold both places...
            async let first = RawReplicationClient.send(hello, to: port, expecting: 2, within: .seconds(10), authenticated: false)
            async let second = RawReplicationClient.send(hello, to: port, expecting: 2, within: .seconds(10), authenticated: false)
            try await Task.sleep(for: .milliseconds(300))
            // ...so a third is turned away at once,
            let third = try await RawReplicationClient.send(hello, to: port, expecting: 2, within: .seconds(5), authenticated: false)
            guard case .refusal(let refusal)? = third.answers.first else {
                Issue.record("a hello past the places was answered \(third.answers)")
                return
            }
            #expect(refusal.reason == .overloaded)
            #expect(refusal.message == "2 replication connections are in their handshake; limit 2")
            // and the first two are challenged, then closed by the server once the timeout passes.
            let started = ContinuousClock.now
            for outcome in try await [first, second] {
                guard case .challenge? = outcome.answers.first else {
                    Issue.record("a hello was answered \(outcome.answers)")
                    continue
                }
                #expect(outcome.answers.count == 1 && outcome.closedByPeer)
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            // Places free again: a member gets in.
            let member = try await RawReplicationClient.send(ReplicationMessage.statusQuery.encoded(), to: port, expecting: 1)
            guard case .status? = member.answers.first else {
                Issue.record("after the timeouts a member was answered \(member.answers)")
                return
            }
        }
    }

    @Test("an authenticated connection quiet past the idle timeout is closed, but not while it waits for a long poll")
    func idleConnectionsClosed() async throws {
        try await withLeader(configure: { $0.idleTimeout = .seconds(1) }) { leader, port in
            let idle = try await HeldConnection(port: port)
            #expect(await idle.ask(.statusQuery) != nil)
            try await Task.sleep(for: .milliseconds(2500))
            #expect(await idle.ask(.statusQuery) == nil, "an idle connection was kept past the idle timeout")
            await idle.close()
            // A fetch at the end waits 3 s for records: owed an answer, it is not idle.
            let polling = try await HeldConnection(port: port)
            let started = ContinuousClock.now
            let answer = await polling.ask(
                .fetch(.init(epoch: 1, offset: leader.log.endOffset, maxBytes: 1024, waitMs: 3000, nodeID: "poller")))
            guard case .fetchResult? = answer else {
                Issue.record("a long poll past the idle timeout was answered \(String(describing: answer))")
                return
            }
            #expect(ContinuousClock.now - started >= .milliseconds(2500))
            await polling.close()
        }
    }

    @Test("keys: derived per group, proofs differ by role, short secrets refused, a secret file's newline ignored")
    func keys() async throws {
        let secret = Array("0123456789abcdef0123".utf8)
        let a = try ReplicationKey(secret: secret, group: "a")
        let b = try ReplicationKey(secret: secret, group: "b")
        let nonce1 = [UInt8](repeating: 1, count: 32)
        let nonce2 = [UInt8](repeating: 2, count: 32)
        #expect(a.serverProof(clientNonce: nonce1, serverNonce: nonce2) != b.serverProof(clientNonce: nonce1, serverNonce: nonce2))
        #expect(a.serverProof(clientNonce: nonce1, serverNonce: nonce2) == (try ReplicationKey(secret: secret, group: "a")).serverProof(clientNonce: nonce1, serverNonce: nonce2))
        // A server's proof never passes as a client's (no reflection), and the node id is bound.
        #expect(a.serverProof(clientNonce: nonce1, serverNonce: nonce2) != a.clientProof(serverNonce: nonce1, clientNonce: nonce2, nodeID: ""))
        #expect(a.clientProof(serverNonce: nonce1, clientNonce: nonce2, nodeID: "x") != a.clientProof(serverNonce: nonce1, clientNonce: nonce2, nodeID: "y"))
        let proof = a.serverProof(clientNonce: nonce1, serverNonce: nonce2)
        #expect(a.isServerProof(proof, clientNonce: nonce1, serverNonce: nonce2))
        #expect(!b.isServerProof(proof, clientNonce: nonce1, serverNonce: nonce2))
        #expect(!a.isServerProof(Array(proof.dropLast()), clientNonce: nonce1, serverNonce: nonce2))
        #expect(!a.isClientProof(proof, serverNonce: nonce2, clientNonce: nonce1, nodeID: ""))
        #expect(throws: ReplicationError.self) { try ReplicationKey(secret: Array("short".utf8), group: "a") }
        try await withTemporaryDirectory { root in
            let path = root + "/secret"
            try "0123456789abcdef0123\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try ReplicationKey.readSecretFile(path) == secret)
            try "short\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: ReplicationError.self) { try ReplicationKey.readSecretFile(path) }
            #expect(throws: ReplicationError.self) { try ReplicationKey.readSecretFile(root + "/missing") }
            // A file far larger than any secret is refused by its size, before it is read.
            let huge = root + "/huge"
            #expect(FileManager.default.createFile(atPath: huge, contents: nil))
            #expect(truncate(huge, off_t(1) << 40) == 0)
            #expect(throws: ReplicationError.self) { try ReplicationKey.readSecretFile(huge) }
        }
    }

    @Test("handshake frames: fields of another length are malformed", arguments: [0, 31, 33, 255])
    func handshakeFieldLengths(_ length: Int) {
        var body: [UInt8] = [14, UInt8(length)]
        body += [UInt8](repeating: 0, count: length)
        #expect(throws: ReplicationError.self) { try ReplicationMessage.decode(ByteBuffer(bytes: body)) }
    }
}
