import Foundation
import SluiceTesting
import Testing

@_spi(Fuzzing) import SluiceStorage

/// The libFuzzer harness's committed corpus (Tests/fuzz-corpus), replayed in every `swift test`
/// through the same entry points, so an input that once crashed the decoder or recovery and was
/// added there stays fixed.
@Suite("the storage fuzz corpus replays without a crash")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz-corpus").path

    static func inputs(_ target: String) throws -> [(String, [UInt8])] {
        let folder = corpus + "/" + target
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { name in
            (name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))))
        }
    }

    @Test("record decoder: every seed decodes or is refused; valid seeds decode")
    func records() throws {
        let inputs = try Self.inputs("record")
        #expect(inputs.count >= 5)
        for (name, bytes) in inputs {
            let decoded = bytes.withUnsafeBytes { StorageFuzzing.decode($0) }
            if ["plain", "two-records", "secondary-queue", "big-body"].contains(name) {
                #expect(decoded >= 1, "\(name) should decode")
            }
        }
    }

    /// Synchronous on purpose: the harness blocks its thread while the log closes, as libFuzzer's
    /// driver thread does; it must not block a cooperative-pool thread.
    @Test("recovery: every seed opens (or is refused) and the clean log reads back")
    func recovery() throws {
        let directory = try makeTemporaryDirectory(prefix: "sluice-fuzz-corpus")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            for (name, bytes) in try Self.inputs("recovery") {
                guard let flags = bytes.first else { continue }
                var rest = Array(bytes.dropFirst())
                var checkpoint: [UInt8]?
                if flags & 2 != 0, let length = rest.first {
                    checkpoint = Array(rest.dropFirst().prefix(Int(length)))
                    rest = Array(rest.dropFirst(1 + Int(length)))
                }
                let read = StorageFuzzing.recover(
                    directory: directory + "/" + name, segment: rest, checkpoint: checkpoint, unclean: flags & 1 != 0)
                if name == "clean-three" || name == "unclean-three" { #expect(read == 3, "\(name) read \(read)") }
            }
        }
    }
}
