import Testing

@testable import SluiceMQTTWire

@Suite("MQTT 5 packets: bad properties are typed errors, never traps")
struct MQTT5MalformedTests {
    static let decoder = MQTTFrameDecoder(maxPacketBytes: 1024, version: .v5)

    static func kind(_ bytes: [UInt8]) -> MQTTWireError.Kind? {
        do throws(MQTTWireError) {
            _ = try decoder.decode(bytes)
            return nil
        } catch {
            return error.kind
        }
    }

    /// A QoS 0 PUBLISH on "a" whose property list is `properties` (its length not included).
    static func publish(properties: [UInt8], length: UInt8? = nil) -> [UInt8] {
        let body: [UInt8] = [0, 1, 0x61, length ?? UInt8(properties.count)] + properties
        return [0x30, UInt8(body.count)] + body
    }

    /// A DISCONNECT with reason 0 and `properties`.
    static func disconnect(properties: [UInt8]) -> [UInt8] {
        let body: [UInt8] = [0, UInt8(properties.count)] + properties
        return [0xE0, UInt8(body.count)] + body
    }

    @Test("an identifier that does not exist, or does not belong in the packet, is malformed", arguments: [
        publish(properties: [0x00, 1]),  // identifier 0
        publish(properties: [0x7F, 1]),  // unassigned
        publish(properties: [0x11, 0, 0, 0, 1]),  // session expiry in PUBLISH
        publish(properties: [0x1F, 0, 1, 0x61]),  // reason string in PUBLISH
        disconnect(properties: [0x02, 0, 0, 0, 1]),  // message expiry in DISCONNECT
        disconnect(properties: [0x23, 0, 1]),  // topic alias in DISCONNECT
    ])
    func wrongIdentifier(_ bytes: [UInt8]) {
        #expect(Self.kind(bytes) == .invalidProperty)
    }

    @Test("a property given twice is a protocol error; user properties and PUBLISH subscription ids may repeat")
    func duplicates() {
        #expect(Self.kind(Self.publish(properties: [0x01, 0, 0x01, 1])) == .protocolViolation)
        #expect(Self.kind(Self.publish(properties: [0x23, 0, 1, 0x23, 0, 2])) == .protocolViolation)
        #expect(Self.kind(Self.disconnect(properties: [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2])) == .protocolViolation)
        #expect(Self.kind(Self.publish(properties: [0x26, 0, 1, 0x6B, 0, 0, 0x26, 0, 1, 0x6B, 0, 0])) == nil)
        #expect(Self.kind(Self.publish(properties: [0x0B, 1, 0x0B, 2])) == nil)
        // In SUBSCRIBE one subscription identifier at most.
        let body: [UInt8] = [0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 0x61, 0]
        #expect(Self.kind([0x82, UInt8(body.count)] + body) == .protocolViolation)
    }

    @Test("values out of range are protocol errors", arguments: [
        publish(properties: [0x01, 2]),  // payload format 2
        publish(properties: [0x0B, 0]),  // subscription identifier 0
        publish(properties: [0x08, 0, 1, 0x23]),  // response topic with a wildcard
    ])
    func badValues(_ bytes: [UInt8]) {
        #expect(Self.kind(bytes) != nil)
    }

    @Test("receive maximum 0 and maximum packet size 0 in CONNECT")
    func zeroLimits() {
        for property: [UInt8] in [[0x21, 0, 0], [0x27, 0, 0, 0, 0]] {
            let body: [UInt8] = [0, 4] + Array("MQTT".utf8) + [5, 0x02, 0, 60, UInt8(property.count)] + property + [0, 1, 0x63]
            #expect(Self.kind([0x10, UInt8(body.count)] + body) == .protocolViolation)
        }
    }

    @Test("a property list or value running past the packet is truncated", arguments: [
        publish(properties: [0x01], length: 9),  // list length past the packet
        publish(properties: [0x02, 0, 0]),  // 4-byte value cut
        publish(properties: [0x03, 0, 9, 0x61]),  // string length past the list
        publish(properties: [0x26, 0, 1, 0x6B]),  // user property without its value
        publish(properties: [0x0B, 0x80]),  // variable byte integer cut
    ])
    func truncated(_ bytes: [UInt8]) {
        #expect(Self.kind(bytes) == .truncated)
    }

    @Test("a variable byte integer past 4 bytes is malformed")
    func longVarint() {
        #expect(Self.kind(Self.publish(properties: [0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) == .malformedLength)
        // The property length itself.
        #expect(Self.kind([0x30, 0x08, 0, 1, 0x61, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .malformedLength)
    }

    @Test("an empty topic needs a topic alias; reserved subscription options; AUTH under 3.1.1")
    func layoutRules() {
        #expect(Self.kind([0x30, 0x03, 0, 0, 0]) == .invalidTopic)
        #expect(Self.kind([0x30, 0x06, 0, 0, 3, 0x23, 0, 1]) == nil)
        for options: UInt8 in [0x03, 0x30, 0x40, 0x80] {
            let body: [UInt8] = [0, 1, 0, 0, 1, 0x61, options]
            #expect(Self.kind([0x82, UInt8(body.count)] + body) == .protocolViolation)
        }
        let v311 = MQTTFrameDecoder(maxPacketBytes: 64)
        #expect(throws: MQTTWireError.self) { try v311.decode([0xF0, 0]) }
        #expect(Self.kind([0xF0, 0]) == nil)
    }

    @Test("error kinds name their MQTT 5 reason code")
    func reasonCodes() {
        #expect(MQTTWireError(.tooLarge, "").reasonCode == MQTTReasonCode.packetTooLarge)
        #expect(MQTTWireError(.protocolViolation, "").reasonCode == MQTTReasonCode.protocolError)
        #expect(MQTTWireError(.invalidProperty, "").reasonCode == MQTTReasonCode.malformedPacket)
    }
}
