import Foundation
import SluiceClient
import SluiceTesting
import Testing

/// MQTT retained messages and kept sessions follow the group (`MQTTRetainedStore+Replication`,
/// `MQTTSessionStore+Replication`): made over MQTT on the leader, they reach the followers
/// through the replicated log; after `kill -9` of the leader an MQTT client subscribing on the
/// new one gets the retained messages (and not one deleted before), a kept session resumes
/// there with its subscription, and the new leader takes further retained publishes.
@Suite("replicated broker group: MQTT retained messages and sessions follow the leader", .serialized)
struct ReplicatedMQTTTests {
    typealias Broker = ReplicationFailoverTests.Broker

    /// The three brokers of `ReplicationFailoverTests.startGroup`, each with an MQTT port too.
    static func startGroup(etcd: String, in directory: String) async throws -> [(broker: Broker, mqttPort: Int)] {
        var brokers: [(Broker, Int)] = []
        for name in ["a", "b", "c"] {
            let mqttPort = try FreePort.next()
            let broker = try Broker(
                name: name, directory: directory + "/" + name, grpcPort: try FreePort.next(), adminPort: try FreePort.next(),
                replicationPort: try FreePort.next(), etcd: etcd, extraArguments: ["--mqtt-port", "\(mqttPort)"])
            try await broker.start()
            brokers.append((broker, mqttPort))
        }
        return brokers
    }

    /// Publishes `payload` at QoS 1, with RETAIN unless told (an empty retained payload deletes
    /// the retained message); true once the broker's PUBACK came.
    static func retain(_ topic: String, _ payload: String, port: Int, packetId: UInt16, retain: Bool = true) async throws -> Bool {
        let received = try await RawMQTTClient.exchange(
            port: port,
            [
                RawMQTTClient.connect(clientId: "retainer-\(packetId)"),
                RawMQTTClient.publish(topic: topic, payload: Array(payload.utf8), packetId: packetId, retain: retain),
                RawMQTTClient.disconnect,
            ]
        ) { packets in packets.contains { $0.type == 4 } }
        return received.contains { $0.type == 4 }
    }

    /// The retained messages a new subscription to `filter` gets, topic → payload text.
    static func retained(_ filter: String, port: Int) async throws -> [String: String] {
        let received = try await RawMQTTClient.exchange(
            port: port,
            [RawMQTTClient.connect(clientId: "reader-\(UUID().uuidString.prefix(8))"), RawMQTTClient.subscribe(filter: filter, qos: 1, packetId: 1)],
            timeoutSeconds: 3
        ) { _ in false }
        var messages: [String: String] = [:]
        for packet in received where packet.retain {
            if let (topic, payload) = packet.publication { messages[topic] = String(decoding: payload, as: UTF8.self) }
        }
        return messages
    }

    /// Connects `clientId` with clean session 0 and waits `seconds`: whether CONNACK said session
    /// present, and the messages delivered, topic → payload text.
    static func resume(_ clientId: String, port: Int, seconds: Int = 5) async throws -> (present: Bool?, messages: [String: String]) {
        let received = try await RawMQTTClient.exchange(
            port: port, [RawMQTTClient.connect(clientId: clientId, cleanSession: false)], timeoutSeconds: seconds
        ) { packets in packets.contains { $0.isPublish } }
        let connack = received.first { $0.type == 2 }
        var messages: [String: String] = [:]
        for packet in received {
            if let (topic, payload) = packet.publication { messages[topic] = String(decoding: payload, as: UTF8.self) }
        }
        return (connack.map { $0.body.first == 1 }, messages)
    }

    @Test("a message retained over MQTT on the leader, one deleted there, and a kept session's subscription are so on the next leader after kill -9, which takes further retained publishes")
    func retainedMessagesAndSessionsFollowTheGroup() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-retained") { directory in
                let group = try await Self.startGroup(etcd: etcd.endpoint, in: directory)
                let brokers = group.map(\.broker)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                func mqttPort(_ broker: Broker) -> Int { group.first { $0.broker === broker }!.mqttPort }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic("home", on: leader, reaching: brokers)

                let accepted = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    (try? await Self.retain("home/kitchen", "21.5", port: mqttPort(leader), packetId: 1)) == true
                }
                #expect(accepted, "the leader did not acknowledge the retained publish")
                #expect(try await Self.retain("home/hall", "18.0", port: mqttPort(leader), packetId: 2))
                #expect(try await Self.retain("home/hall", "", port: mqttPort(leader), packetId: 3))
                #expect(try await Self.retained("home/#", port: mqttPort(leader)) == ["home/kitchen": "21.5"])
                // A follower refuses a publish (retained or not): MQTT 3.1.1 has no negative
                // PUBACK, so it closes the connection.
                #expect(try await Self.retain("home/garage", "5.0", port: mqttPort(followers[0]), packetId: 5) == false)

                // A kept session (clean session 0) subscribes on the leader and goes away.
                let subscribed = try await RawMQTTClient.exchange(
                    port: mqttPort(leader),
                    [
                        RawMQTTClient.connect(clientId: "office-app", cleanSession: false),
                        RawMQTTClient.subscribe(filter: "home/office/#", qos: 1, packetId: 1), RawMQTTClient.disconnect,
                    ]
                ) { packets in packets.contains { $0.type == 9 } }
                #expect(subscribed.contains { $0.type == 9 && $0.body.last != 0x80 }, "no SUBACK granting the subscription")
                // A follower does not take the session: CONNACK "server unavailable" (3).
                let connackOnFollower = try await RawMQTTClient.exchange(
                    port: mqttPort(followers[0]), [RawMQTTClient.connect(clientId: "office-app", cleanSession: false)]
                ) { packets in packets.contains { $0.type == 2 } }
                let returnCode = connackOnFollower.first { $0.type == 2 }?.body.last
                #expect(returnCode == 3, "CONNACK return code on a follower: \(String(describing: returnCode))")

                // kill -9 of the leader: the next one hands the retained message to a new subscriber.
                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let held = try await Self.retained("home/#", port: mqttPort(newLeader))
                #expect(held == ["home/kitchen": "21.5"], "retained messages on \(newLeader.name) after the fail-over")

                // The kept session is there: session present, and its subscription delivers what
                // is published while it is away, without a SUBSCRIBE.
                #expect(try await Self.retain("home/office/lamp", "on", port: mqttPort(newLeader), packetId: 6, retain: false))
                let resumed = try await Self.resume("office-app", port: mqttPort(newLeader))
                #expect(resumed.present == true, "CONNACK on \(newLeader.name) did not say session present")
                #expect(resumed.messages == ["home/office/lamp": "on"], "the kept subscription delivered \(resumed.messages)")

                // The new leader takes a change of the retained message.
                let taken = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    (try? await Self.retain("home/kitchen", "22.0", port: mqttPort(newLeader), packetId: 4)) == true
                }
                #expect(taken, "the new leader did not acknowledge a retained publish")
                #expect(try await Self.retained("home/#", port: mqttPort(newLeader)) == ["home/kitchen": "22.0"])
            }
        }
    }

    @Test("a QoS 2 PUBLISH stored and answered PUBREC by the leader, re-sent to the next leader after kill -9 of the first, is answered PUBREC there and stored once")
    func exactlyOnceAcrossFailover() async throws {
        try await withEtcdServer { etcd in
            try await withTemporaryDirectory(prefix: "sluice-replicated-qos2") { directory in
                let group = try await Self.startGroup(etcd: etcd.endpoint, in: directory)
                let brokers = group.map(\.broker)
                defer { for broker in brokers { broker.process.send(SIGKILL) } }
                func mqttPort(_ broker: Broker) -> Int { group.first { $0.broker === broker }!.mqttPort }
                let leader = try #require(await ReplicationFailoverTests.settledLeader(brokers), "no leader settled")
                let followers = brokers.filter { $0 !== leader }
                try await ReplicationFailoverTests.createTopic("home", on: leader, reaching: brokers)
                let body = try JSONSerialization.data(withJSONObject: ["name": "counter", "consumeFrom": "earliest"])
                let created = try await LoopbackHTTP.send(
                    "POST", leader.admin + "/v1/groups", headers: ["Content-Type": "application/json"], body: Array(body))
                try #require(created.status == 201, "create group: \(created.text)")

                // Stored and answered PUBREC; the client goes away before it sends PUBREL.
                let token = "once-\(UUID().uuidString.prefix(8))"
                let publish = RawMQTTClient.publishExactlyOnce(topic: "home/meter", payload: Array(token.utf8), packetId: 9)
                let first = try await RawMQTTClient.exchange(
                    port: mqttPort(leader), [RawMQTTClient.connect(clientId: "meter-app", cleanSession: false), publish]
                ) { packets in packets.contains { $0.type == 5 } }
                try #require(first.contains { $0.type == 5 }, "no PUBREC from the leader: \(first.map(\.type))")

                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                // The client re-sends it (DUP) to the new leader, then lets the id go.
                let again = try await RawMQTTClient.exchange(
                    port: mqttPort(newLeader),
                    [
                        RawMQTTClient.connect(clientId: "meter-app", cleanSession: false),
                        RawMQTTClient.publishExactlyOnce(topic: "home/meter", payload: Array(token.utf8), packetId: 9, duplicate: true),
                        RawMQTTClient.pubrel(packetId: 9),
                    ]
                ) { packets in packets.contains { $0.type == 7 } }
                #expect(again.first { $0.type == 2 }?.body.first == 1, "session present on \(newLeader.name)")
                #expect(again.contains { $0.type == 5 } && again.contains { $0.type == 7 }, "PUBREC and PUBCOMP: \(again.map(\.type))")

                // Every copy of the message on the new leader's topic.
                let copies = try await SimpleConsumer.withSimpleConsumer(
                    configuration: ClientConfiguration(port: newLeader.grpcPort, requestTimeout: .seconds(10)), group: "counter",
                    subscriptions: ["home": "*"], awaitDuration: .seconds(1)
                ) { consumer in
                    var copies = 0
                    let quietUntil = ContinuousClock.now + .seconds(5)
                    while ContinuousClock.now < quietUntil {
                        for message in try await consumer.receive(maxMessages: 32, invisibleDuration: .seconds(30)) {
                            if message.text == token { copies += 1 }
                            try await consumer.ack(message)
                        }
                    }
                    return copies
                }
                #expect(copies == 1, "the QoS 2 message was stored \(copies) times")
            }
        }
    }
}
