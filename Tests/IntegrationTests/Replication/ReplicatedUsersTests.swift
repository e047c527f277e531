import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// Users and access rules follow the group (`SecurityStore+Replication`): made on the leader
/// with `--auth on`, they reach the followers through the replicated log, a follower refuses
/// changes naming the leader, every data folder (whose log now holds secrets) is mode 0700, and
/// after `kill -9` of the leader the new one authenticates the user with its rotated secret and
/// enforces its rules.
@Suite("replicated broker group: users and ACLs follow the leader", .serialized)
struct ReplicatedUsersTests {
    typealias Broker = ReplicationFailoverTests.Broker

    static let actor = ["Content-Type": "application/json", "X-Sluice-Actor": "test"]

    static func post(_ path: String, _ body: [String: Any], to broker: Broker) async throws -> HTTPReply {
        let bytes = try JSONSerialization.data(withJSONObject: body)
        return try await LoopbackHTTP.send("POST", broker.admin + path, headers: actor, body: Array(bytes))
    }

    static func put(_ path: String, _ body: [String: Any], to broker: Broker) async throws -> HTTPReply {
        let bytes = try JSONSerialization.data(withJSONObject: body)
        return try await LoopbackHTTP.send("PUT", broker.admin + path, headers: actor, body: Array(bytes))
    }

    /// The rules `GET /v1/acls?accessKey=` lists, as `decision actions resourceType resource`.
    static func rules(of accessKey: String, on broker: Broker) async -> [String] {
        guard let reply = try? await LoopbackHTTP.get(broker.admin + "/v1/acls?accessKey=\(accessKey)"), reply.status == 200,
            let acls = reply.json?["acls"] as? [[String: Any]]
        else { return [] }
        return acls.map { acl in
            let actions = (acl["actions"] as? [String] ?? []).joined(separator: ",")
            return "\(acl["decision"] ?? "") \(actions) \(acl["resourceType"] ?? "") \(acl["resource"] ?? "")"
        }.sorted()
    }

    /// Sends one message signed with the credentials; the message id, or nil when the broker
    /// refused (unknown user, bad signature, forbidden topic).
    static func send(topic: String, as accessKey: String, secret: String, to broker: Broker) async -> String? {
        let configuration = ClientConfiguration(
            port: broker.grpcPort, requestTimeout: .seconds(5),
            credentials: ClientCredentials(accessKey: accessKey, secretKey: secret))
        return try? await Producer.withProducer(
            configuration: configuration, topics: [topic], retryPolicy: SendRetryPolicy(maxAttempts: 1)
        ) { producer in
            try await producer.send(Message(topic: topic, text: "from \(accessKey)")).messageID
        }
    }

    @Test("a user and its ACL made on the leader reach every follower, are refused on a follower, and after kill -9 the new leader authenticates the user (rotated secret) and enforces the ACL")
    func usersFollowTheGroup() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-users") { directory in
                let brokers = try await ReplicationFailoverTests.startGroup(
                    etcd: etcd.endpoint, in: directory, extraArguments: ["--auth", "on"])
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic("open", on: leader, reaching: brokers)
                try await ReplicationFailoverTests.createTopic("closed", on: leader, reaching: brokers)

                // A user allowed to publish to `open` only, its secret then rotated: all on the leader.
                let created = try await Self.post("/v1/users", ["accessKey": "shop", "secretKey": "shop-secret-1"], to: leader)
                #expect(created.status == 201, "\(created.text)")
                let granted = try await Self.post(
                    "/v1/acls", ["accessKey": "shop", "resourceType": "topic", "resource": "open", "actions": ["pub"]], to: leader)
                #expect(granted.status == 200, "\(granted.text)")
                let rotated = try await Self.put("/v1/users/shop", ["secretKey": "shop-secret-2"], to: leader)
                #expect(rotated.status == 200, "\(rotated.text)")
                #expect(await Self.send(topic: "open", as: "shop", secret: "shop-secret-2", to: leader) != nil)

                // Every follower gets the user and its rule.
                for follower in followers {
                    let copied = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                        await Self.rules(of: "shop", on: follower) == ["allow pub topic open"]
                    }
                    #expect(copied, "the user or its rule did not reach \(follower.name)")
                    let users = try await LoopbackHTTP.get(follower.admin + "/v1/users")
                    let names = (users.json?["users"] as? [[String: Any]] ?? []).compactMap { $0["accessKey"] as? String }
                    #expect(names == ["shop"], "\(users.text)")
                }

                // The log now holds secrets: every broker's data folder is private to its user.
                for broker in brokers {
                    let mode = try FileManager.default.attributesOfItem(atPath: broker.directory)[.posixPermissions] as? Int
                    #expect(mode == 0o700, "\(broker.name)'s data folder has mode \(String(mode ?? -1, radix: 8))")
                }

                // A follower refuses user changes and names the leader.
                let refused = try await Self.post("/v1/users", ["accessKey": "other", "secretKey": "other-secret-1"], to: followers[0])
                #expect(refused.status == 421, "\(refused.status) \(refused.text)")
                let error = refused.json?["error"] as? [String: Any]
                #expect(error?["code"] as? String == "NOT_LEADER", "\(refused.text)")
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("the leader is \(leader.name)"), "\(refused.text)")
                let refusedGrant = try await Self.post(
                    "/v1/acls", ["accessKey": "shop", "resourceType": "topic", "resource": "closed", "actions": ["pub"]],
                    to: followers[0])
                #expect(refusedGrant.status == 421, "\(refusedGrant.status) \(refusedGrant.text)")

                // kill -9 of the leader: the next one knows the user, its rotated secret and its rule.
                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let sent = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    await Self.send(topic: "open", as: "shop", secret: "shop-secret-2", to: newLeader) != nil
                }
                #expect(sent, "the new leader \(newLeader.name) refused the replicated user")
                #expect(
                    await Self.send(topic: "open", as: "shop", secret: "shop-secret-1", to: newLeader) == nil,
                    "the secret before the rotation still works")
                #expect(
                    await Self.send(topic: "closed", as: "shop", secret: "shop-secret-2", to: newLeader) == nil,
                    "a topic the rule does not allow took a message")
                #expect(await Self.send(topic: "open", as: "nobody", secret: "nobody-secret", to: newLeader) == nil)
            }
        }
    }
}
