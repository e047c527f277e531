import Foundation
import SluiceMQTTWire
import SluiceStorage
import SluiceWire
import SwiftProtobuf

/// How MQTT topics map onto Sluice: the first level is the Sluice topic; the rest (the
/// sub-topic) travels as the user property `MQTT_SUBTOPIC` and, when it is a valid tag, as the
/// tag, so RocketMQ consumers can filter on it. A RocketMQ message without the property is seen
/// by MQTT subscribers under `<topic>/<tag>` (or `<topic>` without a tag).
enum MQTTTopicMapping {
    static let subTopicProperty = "MQTT_SUBTOPIC"
    /// The QoS the MQTT publisher asked for; a RocketMQ message without it counts as QoS 1.
    static let qosProperty = "MQTT_QOS"

    /// The Sluice topic and sub-topic of an MQTT topic name (`a/b/c` is `a` and `b/c`).
    static func split(_ name: String) -> (topic: String, subTopic: String) {
        guard let slash = name.firstIndex(of: "/") else { return (name, "") }
        return (String(name[..<slash]), String(name[name.index(after: slash)...]))
    }

    /// A filter's Sluice topic: its first level, which must be a plain name (a first-level
    /// wildcard would span every topic, which a consumer group cannot). Nil when it is a wildcard.
    static func topic(ofFilter filter: String) -> String? {
        let first = split(filter).topic
        return first.isEmpty || first == "+" || first == "#" || first.hasPrefix("$") ? nil : first
    }

    /// The RocketMQ 5 NORMAL message for an MQTT publish on `topic` by `clientId`, its MQTT 5
    /// properties mapped by `MQTTPropertyMapping`.
    /// - Throws: a non-fatal `MQTTAccessError` for a user property name Sluice reserves.
    static func wireMessage(_ publish: MQTTPublish, topic: String, messageId: String, clientId: String, nowMs: Int64)
        throws(MQTTAccessError) -> Apache_Rocketmq_V2_Message
    {
        let subTopic = split(publish.topic).subTopic
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        message.body = Data(publish.payload)
        var system = Apache_Rocketmq_V2_SystemProperties()
        system.messageID = messageId
        system.messageType = .normal
        system.bornTimestamp = Google_Protobuf_Timestamp(date: Date())
        if isTag(subTopic) { system.tag = subTopic }
        message.systemProperties = system
        var properties: [String: String] = [:]
        try MQTTPropertyMapping.store(publish.properties, nowMs: nowMs, into: &properties)
        if !subTopic.isEmpty { properties[subTopicProperty] = subTopic }
        properties[qosProperty] = String(publish.qos.rawValue)
        properties[MQTTPropertyMapping.clientId] = clientId
        if publish.retain { properties[MQTTPropertyMapping.retain] = "1" }
        message.userProperties = properties
        return message
    }

    /// The MQTT topic name and QoS a stored message is delivered under.
    static func mqtt(_ message: Apache_Rocketmq_V2_Message, topic: String) -> (name: String, qos: MQTTQoS) {
        let system = message.systemProperties
        let subTopic = message.userProperties[subTopicProperty] ?? (system.hasTag ? system.tag : "")
        let qos = message.userProperties[qosProperty].flatMap(UInt8.init).flatMap(MQTTQoS.init) ?? .atLeastOnce
        return (subTopic.isEmpty ? topic : topic + "/" + subTopic, qos)
    }

    /// What the broker accepts as a tag (WireLimits.tagBytes, no '|', no control characters).
    private static func isTag(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && !text.contains("|")
            && !text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
            && !text.allSatisfy(\.isWhitespace)
    }

    /// The consumer group of a client's own (non-shared) subscriptions: `mqtt-` and the client
    /// id with every byte outside RocketMQ's name characters percent-encoded (so two client ids
    /// never share a group). Nil when that is over the 255-byte group name limit.
    static func group(ofClient clientId: String) -> String? {
        var name = "mqtt-"
        for byte in clientId.utf8 {
            if isNameByte(byte) {
                name.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                name += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return name.utf8.count <= 255 ? name : nil
    }

    /// `$share/<group>/<filter>`: the group and the filter; nil for a plain filter.
    static func shared(_ filter: String) -> (group: String, filter: String)? {
        guard filter.hasPrefix("$share/") else { return nil }
        let rest = filter.dropFirst("$share/".count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
    }

    static func isGroupName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name.utf8.allSatisfy(isNameByte)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
