import Testing

@testable import SluiceMQTTWire

@Suite("MQTT packets: malformed client bytes are typed errors, never traps")
struct MQTTMalformedPacketTests {
    static let decoder = MQTTFrameDecoder(maxPacketBytes: 1024)

    static func kind(_ bytes: [UInt8]) -> MQTTWireError.Kind? {
        do throws(MQTTWireError) {
            _ = try decoder.decode(bytes)
            return nil
        } catch {
            return error.kind
        }
    }

    static func string(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xFF)] + utf8
    }

    @Test("a 5-byte remaining length is malformed; 4 bytes of 0xFF 0x7F is only too large")
    func fiveByteLength() {
        #expect(Self.kind([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .malformedLength)
        #expect(Self.kind([0x30, 0xFF, 0xFF, 0xFF, 0x7F]) == .tooLarge)
    }

    @Test("a packet over the maximum packet size is refused from its header alone")
    func tooLarge() {
        #expect(Self.kind([0x30, 0x80, 0x08]) == .tooLarge)  // 1024 + 3 bytes
    }

    @Test("a field longer than the packet is truncated", arguments: [
        [0x30, 0x03, 0x00, 0x05, 0x61] as [UInt8],  // topic says 5 bytes, 1 present
        [0x30, 0x01, 0x00],  // half a topic length
        [0x40, 0x01, 0x00],  // half a packet id
        [0x10, 0x02, 0x00, 0x04],  // CONNECT cut inside the protocol name
        [0x32, 0x03, 0x00, 0x01, 0x61],  // QoS 1 PUBLISH without its packet id
    ])
    func truncated(_ bytes: [UInt8]) {
        #expect(Self.kind(bytes) == .truncated)
    }

    @Test("reserved flag bits", arguments: [
        [0x82 ^ 0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61] as [UInt8],  // SUBSCRIBE without 0b0010
        [0x41, 0x02, 0x00, 0x01],  // PUBACK with a flag
        [0xC1, 0x00],  // PINGREQ with a flag
        [0xE8, 0x00],  // DISCONNECT with a flag
    ])
    func reservedFlags(_ bytes: [UInt8]) {
        #expect(Self.kind(bytes) == .reservedFlags)
    }

    @Test("CONNECT with the reserved connect flag set")
    func connectReservedFlag() {
        let body = Self.string("MQTT") + [4, 0b0000_0011, 0, 60] + Self.string("c")
        #expect(Self.kind([0x10, UInt8(body.count)] + body) == .reservedFlags)
    }

    @Test("packet id 0 on a QoS 1 PUBLISH, PUBACK, SUBSCRIBE")
    func packetIdZero() {
        #expect(Self.kind([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00]) == .protocolViolation)
        #expect(Self.kind([0x40, 0x02, 0x00, 0x00]) == .protocolViolation)
        #expect(Self.kind([0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00]) == .protocolViolation)
    }

    @Test("QoS 3, and DUP on QoS 0")
    func badQoS() {
        #expect(Self.kind([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]) == .protocolViolation)
        #expect(Self.kind([0x38, 0x03, 0x00, 0x01, 0x61]) == .protocolViolation)
    }

    @Test("invalid UTF-8 and U+0000 in a topic")
    func invalidUTF8() {
        #expect(Self.kind([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]) == .invalidUTF8)
        #expect(Self.kind([0x30, 0x04, 0x00, 0x02, 0xED, 0xA0]) == .invalidUTF8)  // a lone surrogate, cut
        #expect(Self.kind([0x30, 0x04, 0x00, 0x02, 0x61, 0x00]) == .invalidUTF8)
    }

    @Test("wildcards in a PUBLISH topic", arguments: ["a/+", "#", "a/b#", "+"])
    func wildcardTopic(_ topic: String) {
        let body = Self.string(topic)
        #expect(Self.kind([0x30, UInt8(body.count)] + body) == .invalidTopic)
    }

    @Test("misplaced wildcards in a SUBSCRIBE filter", arguments: ["a/#/b", "a/b#", "a+/b", ""])
    func badFilter(_ filter: String) {
        let body: [UInt8] = [0x00, 0x01] + Self.string(filter) + [0x01]
        #expect(Self.kind([0x82, UInt8(body.count)] + body) == .invalidTopic)
    }

    @Test("types 0 and 15 are unknown")
    func unknownTypes() {
        #expect(Self.kind([0x00, 0x00]) == .unknownType)
        #expect(Self.kind([0xF0, 0x00]) == .unknownType)
    }

    @Test("QoS 2 flow packets need their flags, a non-zero packet id and nothing more")
    func qos2Flow() {
        #expect(Self.kind([0x60, 0x02, 0x00, 0x01]) == .reservedFlags)
        #expect(Self.kind([0x52, 0x02, 0x00, 0x01]) == .reservedFlags)
        #expect(Self.kind([0x50, 0x02, 0x00, 0x00]) == .protocolViolation)
        #expect(Self.kind([0x70, 0x03, 0x00, 0x01, 0x00]) == .protocolViolation)
    }

    @Test("bytes left over after the last field")
    func trailingBytes() {
        #expect(Self.kind([0x40, 0x03, 0x00, 0x01, 0x00]) == .protocolViolation)
        #expect(Self.kind([0xC0, 0x01, 0x00]) == .protocolViolation)
    }

    @Test("SUBSCRIBE with no filters, or a requested QoS of 3")
    func emptySubscribe() {
        #expect(Self.kind([0x82, 0x02, 0x00, 0x01]) == .protocolViolation)
        #expect(Self.kind([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03]) == .protocolViolation)
    }

    @Test("CONNECT: another protocol name; a password without a user name")
    func connectRules() {
        let other = Self.string("MQIsdp") + [3, 0b10, 0, 60] + Self.string("c")
        #expect(Self.kind([0x10, UInt8(other.count)] + other) == .protocolViolation)
        let password = Self.string("MQTT") + [4, 0b0100_0010, 0, 60] + Self.string("c") + Self.string("p")
        #expect(Self.kind([0x10, UInt8(password.count)] + password) == .protocolViolation)
    }

    @Test("random bytes never trap")
    func randomBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...24, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = Self.kind(bytes)
        }
    }
}
