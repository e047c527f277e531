import SluiceMQTTWire
import SluiceWire
import Testing

@testable import SluiceMQTTAccess

@Suite("MQTT topics on Sluice topics: the first level, the rest as property and tag")
struct MQTTTopicMappingTests {
    @Test("split", arguments: [("a", "a", ""), ("a/b", "a", "b"), ("a/b/c", "a", "b/c"), ("a/", "a", "")])
    func split(_ name: String, _ topic: String, _ subTopic: String) {
        let parts = MQTTTopicMapping.split(name)
        #expect(parts.topic == topic)
        #expect(parts.subTopic == subTopic)
    }

    @Test("a publish becomes a NORMAL message whose sub-topic is a property and the tag, and maps back")
    func roundTrip() throws {
        let publish = MQTTPublish(topic: "sensors/room1/temp", payload: [1, 2], qos: .atLeastOnce, packetId: 3)
        let message = try MQTTTopicMapping.wireMessage(publish, topic: "sensors", messageId: "id", clientId: "c1", nowMs: 0)
        #expect(message.userProperties[MQTTPropertyMapping.clientId] == "c1")
        #expect(message.userProperties[MQTTPropertyMapping.retain] == nil)
        #expect(message.topic.name == "sensors")
        #expect(message.systemProperties.messageType == .normal)
        #expect(message.systemProperties.tag == "room1/temp")
        #expect(message.userProperties[MQTTTopicMapping.subTopicProperty] == "room1/temp")
        let back = MQTTTopicMapping.mqtt(message, topic: "sensors")
        #expect(back.name == "sensors/room1/temp")
        #expect(back.qos == .atLeastOnce)
    }

    @Test("a RocketMQ message is seen under <topic>/<tag>, or <topic>, with QoS 1")
    func fromRocketMQ() {
        var message = Apache_Rocketmq_V2_Message()
        #expect(MQTTTopicMapping.mqtt(message, topic: "orders").name == "orders")
        message.systemProperties.tag = "paid"
        let mapped = MQTTTopicMapping.mqtt(message, topic: "orders")
        #expect(mapped.name == "orders/paid")
        #expect(mapped.qos == .atLeastOnce)
    }

    @Test("a sub-topic that is no valid tag travels only as the property")
    func notATag() throws {
        let message = try MQTTTopicMapping.wireMessage(
            MQTTPublish(topic: "a/x|y", payload: [1]), topic: "a", messageId: "id", clientId: "c", nowMs: 0)
        #expect(!message.systemProperties.hasTag)
        #expect(MQTTTopicMapping.mqtt(message, topic: "a").name == "a/x|y")
        #expect(MQTTTopicMapping.mqtt(message, topic: "a").qos == .atMostOnce)
    }

    @Test("a filter's Sluice topic is its first level; a wildcard or $ first level has none")
    func filterTopic() {
        #expect(MQTTTopicMapping.topic(ofFilter: "a/+/c") == "a")
        #expect(MQTTTopicMapping.topic(ofFilter: "a") == "a")
        #expect(MQTTTopicMapping.topic(ofFilter: "+/b") == nil)
        #expect(MQTTTopicMapping.topic(ofFilter: "#") == nil)
        #expect(MQTTTopicMapping.topic(ofFilter: "$SYS/x") == nil)
    }

    @Test("client groups percent-encode other bytes, so two client ids never share a group")
    func clientGroups() {
        #expect(MQTTTopicMapping.group(ofClient: "dev_1-a") == "mqtt-dev_1-a")
        #expect(MQTTTopicMapping.group(ofClient: "a/b") == "mqtt-a%2Fb")
        #expect(MQTTTopicMapping.group(ofClient: "a%2Fb") == "mqtt-a%252Fb")
        #expect(MQTTTopicMapping.group(ofClient: String(repeating: "é", count: 100)) == nil)
    }

    @Test("$share/<group>/<filter>")
    func shared() {
        #expect(MQTTTopicMapping.shared("$share/g1/a/#")?.group == "g1")
        #expect(MQTTTopicMapping.shared("$share/g1/a/#")?.filter == "a/#")
        #expect(MQTTTopicMapping.shared("$share/g1") == nil)
        #expect(MQTTTopicMapping.shared("a/b") == nil)
    }
}
