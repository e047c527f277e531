import Foundation
import SluiceTesting
import Testing

/// MQTT retained messages follow the group (`MQTTRetainedStore+Replication`): retained over MQTT
/// on the leader, they reach the followers through the replicated log; after `kill -9` of the
/// leader an MQTT client subscribing on the new one gets them (and not one deleted before), and
/// the new leader takes further retained publishes.
@Suite("replicated broker group: MQTT retained messages follow the leader", .serialized)
struct ReplicatedMQTTRetainedTests {
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

    /// Publishes `payload` with RETAIN at QoS 1 (an empty payload deletes the retained message);
    /// true once the broker's PUBACK came.
    static func retain(_ topic: String, _ payload: String, port: Int, packetId: UInt16) async throws -> Bool {
        let received = try await RawMQTTClient.exchange(
            port: port,
            [
                RawMQTTClient.connect(clientId: "retainer-\(packetId)"),
                RawMQTTClient.publish(topic: topic, payload: Array(payload.utf8), packetId: packetId, retain: true),
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

    @Test("a message retained over MQTT on the leader, and one deleted there, are so on the next leader after kill -9, which takes further retained publishes")
    func retainedMessagesFollowTheGroup() async throws {
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

                // kill -9 of the leader: the next one hands the retained message to a new subscriber.
                await leader.process.killHard()
                let newLeader = try #require(
                    await ReplicationFailoverTests.settledLeader(followers, timeout: ReplicationFailoverTests.failoverBound),
                    "no new leader")
                let held = try await Self.retained("home/#", port: mqttPort(newLeader))
                #expect(held == ["home/kitchen": "21.5"], "retained messages on \(newLeader.name) after the fail-over")

                // The new leader takes a change of the retained message.
                let taken = await ReplicationFailoverTests.eventually(timeout: .seconds(15)) {
                    (try? await Self.retain("home/kitchen", "22.0", port: mqttPort(newLeader), packetId: 4)) == true
                }
                #expect(taken, "the new leader did not acknowledge a retained publish")
                #expect(try await Self.retained("home/#", port: mqttPort(newLeader)) == ["home/kitchen": "22.0"])
            }
        }
    }
}
