import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SluiceBroker
import SluiceTesting
import SluiceWire
import Testing

/// `sluice user …` / `sluice acl …` against a real broker with `--auth on`, and what the rules do
/// to signed gRPC calls (send, route, EndTransaction's owner check), audit rows included.
@Suite("sluice user and sluice acl, with --auth on")
struct SecurityCommandTests {
    static func sluice(_ arguments: [String], admin: String) async throws -> TopicCommandTests.CLIRun {
        try await TopicCommandTests.sluice(arguments, admin: admin)
    }

    /// A raw RocketMQ 5 caller signing like the official clients (`Credentials(ak, sk)`).
    struct SignedCaller {
        let client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>
        var accessKey: String?
        var secret: String?
        var clientId: String

        var metadata: Metadata {
            var metadata = Metadata()
            metadata.addString(clientId, forKey: "x-mq-client-id")
            if let accessKey, let secret {
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
                let dateTime = formatter.string(from: Date())
                metadata.addString(dateTime, forKey: "x-mq-date-time")
                metadata.addString(
                    "MQv2-HMAC-SHA1 Credential=\(accessKey), SignedHeaders=x-mq-date-time, Signature="
                        + SignedRequest.sign(secret: secret, dateTime: dateTime), forKey: "authorization")
            }
            return metadata
        }

        func send(topic: String, type: Apache_Rocketmq_V2_MessageType = .normal, body: String = "x")
            async throws -> Apache_Rocketmq_V2_SendMessageResponse
        {
            var message = Apache_Rocketmq_V2_Message()
            message.topic.name = topic
            message.body = Data(body.utf8)
            message.systemProperties.messageType = type
            message.systemProperties.messageID = UUID().uuidString
            message.systemProperties.bornHost = "10.0.0.1"
            var request = Apache_Rocketmq_V2_SendMessageRequest()
            request.messages = [message]
            return try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata))
        }

        func end(_ transactionId: String, topic: String) async throws -> Apache_Rocketmq_V2_Status {
            var request = Apache_Rocketmq_V2_EndTransactionRequest()
            request.transactionID = transactionId
            request.topic.name = topic
            request.resolution = .commit
            request.source = .sourceClient
            return try await client.endTransaction(request: ClientRequest(message: request, metadata: metadata)).status
        }
    }

    static func withCaller<T: Sendable>(
        _ broker: RunningBroker, _ body: (Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(host: "127.0.0.1", port: broker.grpcPort), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { grpc in try await body(.init(wrapping: grpc)) }
    }

    static func audit(_ broker: RunningBroker) async throws -> [[String: Any]] {
        let reply = try await LoopbackHTTP.get("\(broker.adminURL)/v1/audit?limit=200")
        let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        return object?["audit"] as? [[String: Any]] ?? []
    }

    @Test("users and rules made with the CLI decide what signed gRPC calls may do")
    func cliAndEnforcement() async throws {
        try await withTemporaryDirectory(prefix: "sluice-security-test") { directory in
            let secretFile = directory + "/alice.secret"
            try "alice-secret-1\n".write(toFile: secretFile, atomically: false, encoding: .utf8)
            try await withBroker(extraArguments: ["--auth", "on"]) { broker in
                _ = try #require(await broker.waitUntilReady())
                try await broker.createTopic("orders", type: "normal")
                try await broker.createTopic("payments", type: "transaction")

                let created = try await Self.sluice(["user", "create", "alice", "--secret-file", secretFile], admin: broker.adminURL)
                #expect(created.status == 0, "\(created.stderr)")
                let again = try await Self.sluice(["user", "create", "alice", "--secret-file", secretFile], admin: broker.adminURL)
                #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again.stderr)")
                let listed = try await Self.sluice(["user", "list", "--json"], admin: broker.adminURL)
                let users = try #require(listed.json?["users"] as? [[String: Any]], "\(listed.stdout)")
                #expect(users.map { $0["accessKey"] as? String } == ["alice"])
                #expect(!listed.stdout.contains("alice-secret-1"))

                let granted = try await Self.sluice(
                    ["acl", "grant", "alice", "--topic", "orders*", "--actions", "pub"], admin: broker.adminURL)
                #expect(granted.status == 0 && granted.stdout.contains("orders*"), "\(granted.stdout) \(granted.stderr)")
                let both = try await Self.sluice(["acl", "grant", "alice", "--topic", "pay*", "--group", "g"], admin: broker.adminURL)
                #expect(both.status != 0)
                let table = try await Self.sluice(["acl", "list", "alice"], admin: broker.adminURL)
                #expect(table.stdout.contains("allow") && table.stdout.contains("pub"), "\(table.stdout)")

                try await Self.withCaller(broker) { client in
                    let alice = SignedCaller(client: client, accessKey: "alice", secret: "alice-secret-1", clientId: "alice@1")
                    #expect(try await alice.send(topic: "orders").status.code == .ok)
                    let denied = try await alice.send(topic: "payments", type: .transaction)
                    #expect(denied.status.code == .forbidden)
                    #expect(denied.status.message.contains("may not pub on topic payments"), "\(denied.status.message)")
                    let wrong = SignedCaller(client: client, accessKey: "alice", secret: "wrong-secret", clientId: "w@1")
                    #expect(try await wrong.send(topic: "orders").status.code == .unauthorized)
                    let anonymous = SignedCaller(client: client, clientId: "anon@1")
                    let refused = try await anonymous.send(topic: "orders")
                    #expect(refused.status.code == .unauthorized && refused.status.message.contains("authentication is required"))

                    // A deny wins over the allow.
                    let deny = try await Self.sluice(
                        ["acl", "grant", "alice", "--topic", "orders", "--actions", "pub", "--deny"], admin: broker.adminURL)
                    #expect(deny.status == 0, "\(deny.stderr)")
                    #expect(try await alice.send(topic: "orders").status.code == .forbidden)
                    let revoked = try await Self.sluice(
                        ["acl", "revoke", "alice", "--topic", "orders", "--deny"], admin: broker.adminURL)
                    #expect(revoked.status == 0 && revoked.stdout.contains("rule removed"), "\(revoked.stdout) \(revoked.stderr)")
                    #expect(try await alice.send(topic: "orders").status.code == .ok)

                    // EndTransaction: only the half message's client, or a user who may publish to its topic.
                    _ = try await Self.sluice(["acl", "grant", "alice", "--topic", "payments", "--actions", "pub"], admin: broker.adminURL)
                    let half = try await alice.send(topic: "payments", type: .transaction)
                    let transactionId = try #require(half.entries.first?.transactionID)
                    #expect(transactionId.count == 32)
                    let bobFile = directory + "/bob.secret"
                    try "bob-secret-12\n".write(toFile: bobFile, atomically: false, encoding: .utf8)
                    _ = try await Self.sluice(["user", "create", "bob", "--secret-file", bobFile], admin: broker.adminURL)
                    let bob = SignedCaller(client: client, accessKey: "bob", secret: "bob-secret-12", clientId: "bob@1")
                    let stranger = try await bob.end(transactionId, topic: "payments")
                    #expect(stranger.code == .forbidden, "\(stranger.message)")
                    #expect(try await alice.end(transactionId, topic: "payments").code == .ok)
                }

                let rows = try await Self.audit(broker)
                let actions = rows.compactMap { $0["action"] as? String }
                #expect(actions.contains("user.create") && actions.contains("acl.grant") && actions.contains("acl.revoke"))
                #expect(rows.contains { $0["action"] as? String == "access.denied" && $0["actor"] as? String == "bob" })
                #expect(rows.contains { $0["reason"] as? String == "bad_signature" })
                #expect(!String(describing: rows).contains("alice-secret-1"))
                let metrics = try await LoopbackHTTP.get("\(broker.adminURL)/metrics").text
                #expect(metrics.contains("sluice_auth_denials_total{reason=\"forbidden\"}"))
                #expect(metrics.contains("sluice_auth_denials_total{reason=\"not_transaction_owner\"}"))

                let deleted = try await Self.sluice(["user", "delete", "alice"], admin: broker.adminURL)
                #expect(deleted.status == 0)
                let gone = try await Self.sluice(["user", "delete", "alice"], admin: broker.adminURL)
                #expect(gone.status == 1)
            }
        }
    }

    @Test("without --auth, EndTransaction from another client is refused; refused operator resolves are audited")
    func ownerCheckAndResolveAudit() async throws {
        try await withBroker { broker in
            _ = try #require(await broker.waitUntilReady())
            try await broker.createTopic("payments", type: "transaction")
            try await Self.withCaller(broker) { client in
                let owner = SignedCaller(client: client, clientId: "owner@1")
                let half = try await owner.send(topic: "payments", type: .transaction)
                let transactionId = try #require(half.entries.first?.transactionID)
                let other = SignedCaller(client: client, clientId: "other@1")
                #expect(try await other.end(transactionId, topic: "payments").code == .forbidden)
                #expect(try await owner.end(transactionId, topic: "payments").code == .ok)

                // Refused (opposite resolution) and unknown operator resolves leave audit rows.
                for id in [transactionId, "no-such-transaction"] {
                    let body = Array(#"{"resolution": "rollback", "reason": "audit test"}"#.utf8)
                    _ = try await LoopbackHTTP.send(
                        "POST", "\(broker.adminURL)/v1/transactions/\(id)/resolve",
                        headers: ["Content-Type": "application/json", "X-Sluice-Actor": "ops"], body: body)
                }
            }
            let rows = try await Self.audit(broker).filter { $0["actor"] as? String == "ops" }
            #expect(rows.contains { ($0["detail"] as? String)?.hasPrefix("refused:") == true })
            #expect(rows.contains {
                $0["transactionId"] as? String == "no-such-transaction" && $0["detail"] as? String == "unknown transaction"
            })
        }
    }
}
