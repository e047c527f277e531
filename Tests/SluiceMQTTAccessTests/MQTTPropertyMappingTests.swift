import SluiceMQTTWire
import Testing

@testable import SluiceMQTTAccess

@Suite("MQTT 5 PUBLISH properties as Sluice message properties, and back")
struct MQTTPropertyMappingTests {
    @Test("every carried property round-trips; user properties come back sorted by name")
    func roundTrip() throws {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = 1
        properties.messageExpiryInterval = 60
        properties.contentType = "application/json"
        properties.responseTopic = "replies/a"
        properties.correlationData = [0, 0xFF, 7]
        properties.userProperties = [MQTTUserProperty("z", "1"), MQTTUserProperty("a", "2")]
        var stored: [String: String] = [:]
        try MQTTPropertyMapping.store(properties, nowMs: 1_000_000, into: &stored)
        #expect(stored["z"] == "1")
        #expect(stored[MQTTPropertyMapping.contentType] == "application/json")
        #expect(stored[MQTTPropertyMapping.expiresAt] == "1060000")
        #expect(stored[MQTTPropertyMapping.correlationData] == "AP8H")
        // Sluice's own properties do not reach the subscriber as user properties.
        stored[MQTTTopicMapping.subTopicProperty] = "x"
        let back = try #require(MQTTPropertyMapping.delivered(stored, nowMs: 1_000_000 + 20_500))
        #expect(back.messageExpiryInterval == 40)  // 39.5 seconds left, rounded up
        #expect(back.userProperties == [MQTTUserProperty("a", "2"), MQTTUserProperty("z", "1")])
        #expect(back.contentType == properties.contentType)
        #expect(back.responseTopic == properties.responseTopic)
        #expect(back.correlationData == properties.correlationData)
        #expect(back.payloadFormatIndicator == 1)
    }

    @Test("an expired message is not delivered")
    func expired() throws {
        var properties = MQTTProperties()
        properties.messageExpiryInterval = 1
        var stored: [String: String] = [:]
        try MQTTPropertyMapping.store(properties, nowMs: 0, into: &stored)
        #expect(MQTTPropertyMapping.delivered(stored, nowMs: 999) != nil)
        #expect(MQTTPropertyMapping.delivered(stored, nowMs: 1_000) == nil)
        // Without an expiry a message never expires.
        #expect(MQTTPropertyMapping.delivered([:], nowMs: .max)?.messageExpiryInterval == nil)
        // Any number a RocketMQ producer may write there, without a trap.
        let key = MQTTPropertyMapping.expiresAt
        #expect(MQTTPropertyMapping.delivered([key: String(Int64.min)], nowMs: 1_000) == nil)
        #expect(MQTTPropertyMapping.delivered([key: String(Int64.max)], nowMs: -1_000)?.messageExpiryInterval == nil)
        #expect(MQTTPropertyMapping.delivered([key: String(Int64.max)], nowMs: 0)?.messageExpiryInterval == .max)
        #expect(MQTTPropertyMapping.delivered([key: "not a number"], nowMs: 0)?.messageExpiryInterval == nil)
    }

    @Test("a user property name Sluice reserves is refused with 0x83, without closing")
    func reserved() {
        for name in ["MQTT_SUBTOPIC", "SLUICE_X"] {
            var properties = MQTTProperties()
            properties.userProperties = [MQTTUserProperty(name, "v")]
            var stored: [String: String] = [:]
            do throws(MQTTAccessError) {
                try MQTTPropertyMapping.store(properties, nowMs: 0, into: &stored)
                Issue.record("\(name) was stored")
            } catch {
                #expect(error.reasonCode == 0x83)
                #expect(!error.fatal)
            }
        }
    }
}
