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
        let decoder = MQTTFrameDecoder(maxPacketBytes: 64 * 1024)
        var accepted = 0
        for name in names {
            var rest = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + name)))
            while let decoded = try? decoder.decode(rest), decoded.consumed > 0 {
                #expect(try decoder.decode(decoded.packet.encode())?.packet == decoded.packet, "\(name)")
                accepted += 1
                rest = Array(rest.dropFirst(decoded.consumed))
            }
        }
        #expect(accepted >= 8)
    }
}
