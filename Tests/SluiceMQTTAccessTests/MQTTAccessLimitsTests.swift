import Testing

@testable import SluiceMQTTAccess

@Suite("MQTT access limits from the broker flags")
struct MQTTAccessLimitsTests {
    @Test("defaults are today's values; flags override them within bounds")
    func defaultsAndOverrides() {
        let defaults = MQTTAccessLimits()
        #expect(defaults.maxPacketBytes == (4 << 20) + 65_535 + 7)
        #expect(defaults.maxInflightPerConnection == 32)
        #expect(defaults.maxQueuedPerSession == 0)
        let set = MQTTAccessLimits(maxPacketBytes: 1024, maxInflightPerConnection: 4, maxQueuedPerSession: 3)
        #expect(set.maxPacketBytes == 1024)
        #expect(set.maxInflightPerConnection == 4)
        #expect(set.maxQueuedPerSession == 3)
        #expect(MQTTAccessLimits(maxPacketBytes: 1).maxPacketBytes == 128)
        #expect(MQTTAccessLimits(maxInflightPerConnection: 5000).maxInflightPerConnection == 1024)
    }
}
