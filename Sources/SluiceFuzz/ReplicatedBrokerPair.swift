import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SluiceReplication
import SluiceTesting
import SluiceWire

#if canImport(Glibc)
import Glibc
#endif

/// What the replication fuzzer runs against: a real etcd and two real `sluice-broker` processes
/// of one group (`--replicas 2`, asynchronous, so the leader takes appends on its own), one
/// elected leader and one follower copying it, each with its replication port.
public final class ReplicatedBrokerPair: Sendable {
    public struct Member: Sendable {
        public var name: String
        public var grpcPort: Int
        public var adminPort: Int
        public var replicationPort: Int
        public var process: ChildProcess
        public var adminURL: String { "http://127.0.0.1:\(adminPort)" }
    }

    public let etcd: EtcdServer
    public let members: [Member]
    /// The group's replication key (both brokers read its secret from the same file).
    public let replicationKey: ReplicationKey

    private init(etcd: EtcdServer, members: [Member], replicationKey: ReplicationKey) {
        self.etcd = etcd
        self.members = members
        self.replicationKey = replicationKey
    }

    /// Starts etcd and brokers `a` and `b` under `directory` and waits until one leads and the
    /// other follows it.
    /// - Throws: `FuzzSetupError` naming the broker that did not start (with its stderr) or the
    ///   group that did not settle.
    public static func start(executable: String, directory: String, logLevel: String = "warning") async throws
        -> ReplicatedBrokerPair
    {
        let etcd = try await EtcdServer.start(dataDirectory: directory)
        var members: [Member] = []
        let secret = Array(ReplicationKey.randomSecret().map { String($0, radix: 16) }.joined().utf8)
        let secretFile = directory + "/replication-secret"
        FileManager.default.createFile(atPath: secretFile, contents: Data(secret), attributes: [.posixPermissions: 0o600])
        let replicationKey = try ReplicationKey(secret: secret, group: "fuzz")
        do {
            for name in ["a", "b"] {
                let (grpcPort, adminPort, replicationPort) = (try FreePort.next(), try FreePort.next(), try FreePort.next())
                let process = ChildProcess(
                    executable: executable,
                    arguments: [
                        "--data-dir", directory + "/" + name, "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
                        "--segment-size", "1MiB", "--log-level", logLevel, "--etcd", etcd.endpoint, "--broker-group", "fuzz",
                        "--node-id", name, "--etcd-lease-ttl", "10s", "--replicas", "2", "--replication", "async",
                        "--replication-port", "\(replicationPort)", "--replication-secret-file", secretFile,
                    ])
                try process.start()
                let member = Member(
                    name: name, grpcPort: grpcPort, adminPort: adminPort, replicationPort: replicationPort, process: process)
                members.append(member)
                let listening = await process.waitForOutput(timeout: .seconds(60)) { lines in
                    lines.contains("sluice-broker: admin HTTP listening on 127.0.0.1:\(member.adminPort)")
                }
                guard listening else {
                    throw FuzzSetupError(description: "broker \(name) did not start: \(process.standardErrorText.suffix(2000))")
                }
            }
            let pair = ReplicatedBrokerPair(etcd: etcd, members: members, replicationKey: replicationKey)
            guard await pair.settled(timeout: .seconds(60)) != nil else {
                throw FuzzSetupError(description: "the group did not settle on a leader and a follower within 60 s")
            }
            return pair
        } catch {
            for member in members { await member.process.killHard() }
            await etcd.stop()
            throw error
        }
    }

    /// Creates `topic` on `leader` and sends it `messages` messages of about 1 KiB, so the log
    /// the fuzzer reads holds records across a segment boundary (segments are 1 MiB here).
    /// - Throws: `FuzzSetupError` when the topic cannot be made or a send is not acknowledged.
    public func fill(_ leader: Member, topic: String = "fuzzed", messages: Int) async throws {
        let body = Array(#"{"name": "\#(topic)", "type": "normal", "queues": 2}"#.utf8)
        let created = try await LoopbackHTTP.send(
            "POST", leader.adminURL + "/v1/topics", headers: ["Content-Type": "application/json"], body: body)
        guard [200, 201, 409].contains(created.status) else {
            throw FuzzSetupError(description: "cannot create topic \(topic): HTTP \(created.status) \(created.text)")
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(host: "127.0.0.1", port: leader.grpcPort), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { grpc in
            let client = Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
            for index in 0..<messages {
                let text = "fill \(index) " + String(repeating: "x", count: 600 + index % 800)
                let sent = try await ProtocolFuzzer.plainSend(client, topic: topic, body: text)
                guard sent.status.code == .ok else {
                    throw FuzzSetupError(description: "send \(index) to \(topic) refused: \(sent.status.message)")
                }
            }
        }
    }

    /// `node.replication.role` of `GET /v1/cluster` ("leader", "follower"), nil when it does not answer.
    public func role(_ member: Member) async -> String? {
        guard let reply = try? await LoopbackHTTP.get(member.adminURL + "/v1/cluster"), reply.status == 200 else { return nil }
        return ((reply.json?["node"] as? [String: Any])?["replication"] as? [String: Any])?["role"] as? String
    }

    /// `node.replication.endOffset`.
    public func endOffset(_ member: Member) async -> Int? {
        guard let reply = try? await LoopbackHTTP.get(member.adminURL + "/v1/cluster"), reply.status == 200 else { return nil }
        return ((reply.json?["node"] as? [String: Any])?["replication"] as? [String: Any])?["endOffset"] as? Int
    }

    /// The leader and the follower, once one leads and the other follows (nil after `timeout`).
    public func settled(timeout: Duration) async -> (leader: Member, follower: Member)? {
        let deadline = ContinuousClock.now + timeout
        while true {
            var roles: [String?] = []
            for member in members { roles.append(await role(member)) }
            if let leading = roles.firstIndex(of: "leader"), roles.filter({ $0 == "follower" }).count == members.count - 1 {
                return (members[leading], members[1 - leading])
            }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// SIGTERM to both brokers, then etcd.
    public func stop() async {
        for member in members {
            member.process.send(SIGTERM)
            _ = await member.process.waitForExit(timeout: .seconds(15))
        }
        for member in members where member.process.isRunning { await member.process.killHard() }
        await etcd.stop()
    }

    /// The part of a dead broker's standard error that names the cause: from the fatal error or
    /// the crashed thread on; the tail when neither is there.
    public static func crashReport(_ standardError: String) -> String {
        for marker in ["Fatal error", "crashed:", "Crash at"] {
            if let start = standardError.range(of: marker) {
                return String(standardError[start.lowerBound...].prefix(4000))
            }
        }
        return String(standardError.suffix(2000))
    }
}
