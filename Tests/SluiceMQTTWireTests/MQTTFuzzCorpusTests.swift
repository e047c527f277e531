import Foundation
import SluiceMQTTWire
import Testing

/// The libFuzzer harness's committed MQTT seeds (Tests/fuzz-corpus/mqtt, `make fuzz-libfuzzer`),
/// replayed in every `swift test`: each decodes to packets or a typed error, and every packet
/// accepted encodes back to itself.
@Suite("MQTT fuzz corpus replays without a trap")
struct MQTTFuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz-corpus").appendingPathComponent("mqtt").path

    @Test("every seed")
    func seeds() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).sorted()
        #expect(names.count >= 5)
        var accepted = 0
        var acceptedV5 = 0
        for name in names {
            // As on a connection (and in the harness): a level-5 CONNECT switches to MQTT 5.
            var decoder = MQTTFrameDecoder(maxPacketBytes: 64 * 1024)
            var rest = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + name)))
            while let decoded = try? decoder.next(rest), decoded.consumed > 0 {
                let again = try decoder.decode(decoded.packet.encode(version: decoder.version))
                #expect(again?.packet == decoded.packet, "\(name)")
                accepted += 1
                if decoder.version == .v5 { acceptedV5 += 1 }
                rest = Array(rest.dropFirst(decoded.consumed))
            }
        }
        #expect(accepted >= 8)
        // The MQTT 5 seeds decode whole: 9 + 5 packets, and the plain level-5 CONNECT.
        #expect(acceptedV5 >= 15)
    }
}
