import SluiceMQTTWire
import Testing

@Suite("MQTT codec: malformed and hostile packets are typed errors, never traps")
struct MQTTMalformedTests {
    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var kind: MQTTWireError.Kind
        var testDescription: String { name }
    }

    static func string(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xFF)] + utf8
    }

    static func packet(_ first: UInt8, _ body: [UInt8]) -> [UInt8] { [first, UInt8(body.count)] + body }

    static let connectHeader: [UInt8] = string("MQTT") + [4, 0x02, 0, 60]

    static let bad: [Bad] = [
        Bad(name: "5-byte remaining length", bytes: [0x30, 0x80, 0x80, 0x80, 0x80, 0x01], kind: .malformedLength),
        Bad(name: "over the maximum packet size", bytes: [0x30, 0xFF, 0xFF, 0x03], kind: .tooLarge),
        Bad(name: "packet type 0", bytes: [0x00, 0x00], kind: .unknownType),
        Bad(name: "packet type 15", bytes: [0xF0, 0x00], kind: .unknownType),
        Bad(name: "PUBREL with flags 0", bytes: [0x60, 0x02, 0x00, 0x01], kind: .reservedFlags),
        Bad(name: "PUBREC with packet id 0", bytes: [0x50, 0x02, 0x00, 0x00], kind: .protocolViolation),
        Bad(name: "SUBSCRIBE with flags 0", bytes: packet(0x80, [0, 1] + string("a") + [0]), kind: .reservedFlags),
        Bad(name: "PINGREQ with a flag", bytes: [0xC1, 0x00], kind: .reservedFlags),
        Bad(name: "DISCONNECT with a body", bytes: [0xE0, 0x01, 0x00], kind: .protocolViolation),
        Bad(name: "QoS 1 PUBLISH with packet id 0", bytes: packet(0x32, string("a") + [0, 0, 9]), kind: .protocolViolation),
        Bad(name: "PUBLISH with QoS 3", bytes: packet(0x36, string("a") + [0, 1]), kind: .protocolViolation),
        Bad(name: "QoS 0 PUBLISH with DUP", bytes: packet(0x38, string("a")), kind: .protocolViolation),
        Bad(name: "PUBLISH topic with '+'", bytes: packet(0x30, string("a/+/b")), kind: .invalidTopic),
        Bad(name: "PUBLISH topic with '#'", bytes: packet(0x30, string("a/#")), kind: .invalidTopic),
        Bad(name: "PUBLISH empty topic", bytes: packet(0x30, string("")), kind: .invalidTopic),
        Bad(name: "PUBLISH topic not UTF-8", bytes: packet(0x30, [0, 2, 0xC3, 0x28]), kind: .invalidUTF8),
        Bad(name: "PUBLISH topic with U+0000", bytes: packet(0x30, [0, 3, 0x61, 0x00, 0x62]), kind: .invalidUTF8),
        Bad(name: "PUBLISH topic is a UTF-16 surrogate", bytes: packet(0x30, [0, 3, 0xED, 0xA0, 0x80]), kind: .invalidUTF8),
        Bad(name: "PUBLISH topic length past the packet", bytes: packet(0x30, [0, 9, 0x61]), kind: .truncated),
        Bad(name: "PUBACK with one byte", bytes: [0x40, 0x01, 0x00], kind: .truncated),
        Bad(name: "PUBACK with packet id 0", bytes: [0x40, 0x02, 0x00, 0x00], kind: .protocolViolation),
        Bad(name: "SUBSCRIBE with packet id 0", bytes: packet(0x82, [0, 0] + string("a") + [0]), kind: .protocolViolation),
        Bad(name: "SUBSCRIBE without filters", bytes: packet(0x82, [0, 1]), kind: .protocolViolation),
        Bad(name: "SUBSCRIBE QoS 3", bytes: packet(0x82, [0, 1] + string("a") + [3]), kind: .protocolViolation),
        Bad(name: "SUBSCRIBE misplaced '#'", bytes: packet(0x82, [0, 1] + string("a/#/b") + [0]), kind: .invalidTopic),
        Bad(name: "SUBSCRIBE partial '+'", bytes: packet(0x82, [0, 1] + string("a/b+") + [0]), kind: .invalidTopic),
        Bad(name: "SUBSCRIBE filter without QoS", bytes: packet(0x82, [0, 1] + string("a")), kind: .truncated),
        Bad(name: "UNSUBSCRIBE without filters", bytes: packet(0xA2, [0, 1]), kind: .protocolViolation),
        Bad(name: "CONNECT protocol name MQIsdp", bytes: packet(0x10, string("MQIsdp") + [3, 2, 0, 60] + string("a")),
            kind: .protocolViolation),
        Bad(name: "CONNECT reserved flag", bytes: packet(0x10, string("MQTT") + [4, 0x03, 0, 60] + string("a")),
            kind: .reservedFlags),
        Bad(name: "CONNECT password without user name", bytes: packet(0x10, string("MQTT") + [4, 0x42, 0, 60] + string("a") + string("p")),
            kind: .protocolViolation),
        Bad(name: "CONNECT will QoS without will", bytes: packet(0x10, string("MQTT") + [4, 0x0A, 0, 60] + string("a")),
            kind: .protocolViolation),
        Bad(name: "CONNECT will QoS 3", bytes: packet(0x10, string("MQTT") + [4, 0x1E, 0, 60] + string("a") + string("t") + string("m")),
            kind: .protocolViolation),
        Bad(name: "CONNECT will topic with '#'", bytes: packet(0x10, string("MQTT") + [4, 0x06, 0, 60] + string("a") + string("#") + string("m")),
            kind: .invalidTopic),
        Bad(name: "CONNECT ends before the client id", bytes: packet(0x10, connectHeader), kind: .truncated),
        Bad(name: "CONNECT with bytes after its fields", bytes: packet(0x10, connectHeader + string("a") + [0]),
            kind: .protocolViolation),
        Bad(name: "CONNACK with an unknown return code", bytes: [0x20, 0x02, 0x00, 0x09], kind: .protocolViolation),
        Bad(name: "SUBACK with return code 3", bytes: [0x90, 0x03, 0x00, 0x01, 0x03], kind: .protocolViolation),
    ]

    @Test("refused with the right kind", arguments: bad)
    func refused(_ bad: Bad) {
        let decoder = MQTTFrameDecoder(maxPacketBytes: 4096)
        #expect {
            _ = try decoder.decode(bad.bytes)
        } throws: { error in
            (error as? MQTTWireError)?.kind == bad.kind
        }
    }

    @Test("random bytes never trap: each buffer decodes, waits or throws MQTTWireError")
    func randomBytes() {
        var generator = SplitMix(seed: 0x5EED)
        let decoder = MQTTFrameDecoder(maxPacketBytes: 512)
        for round in 0..<20_000 {
            var bytes = (0..<Int(generator.next() % 40)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Half the time a plausible first byte and a length that fits, so bodies get parsed too.
            if round % 2 == 0, !bytes.isEmpty {
                bytes[0] = UInt8(truncatingIfNeeded: (generator.next() % 14 + 1) << 4) | UInt8(generator.next() % 16)
                bytes.insert(UInt8(bytes.count - 1), at: 1)
            }
            do {
                _ = try decoder.decode(bytes)
            } catch {
                // Typed: the only possible error is MQTTWireError.
                _ = error.kind
            }
        }
    }

    @Test("a refusal names what was wrong")
    func messages() {
        let error = MQTTWireError(.invalidTopic, "a PUBLISH topic name may not hold the wildcards '+' or '#'")
        #expect(error.description == "invalidTopic: a PUBLISH topic name may not hold the wildcards '+' or '#'")
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
