import Foundation
import SluiceHTTPWire
import Testing

/// The libFuzzer harness's committed HTTP seeds (Tests/fuzz-corpus/http, `make fuzz-libfuzzer`,
/// target `http`), replayed in every `swift test`: the first byte picks the parser, as in the
/// harness; each seed parses or is refused with a typed error, and the ones that should parse do.
@Suite("HTTP fuzz corpus replays without a trap")
struct HTTPFuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz-corpus").appendingPathComponent("http").path

    private func seed(_ name: String) throws -> (selector: UInt8, input: [UInt8]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + name)))
        return (bytes[0], Array(bytes.dropFirst()))
    }

    @Test("every seed reaches its parser and gets the answer it was written for")
    func seeds() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).sorted()
        #expect(names.count >= 10)
        #expect(Set(try names.map { try seed($0).selector % 6 }) == [0, 1, 2, 3, 4, 5])

        let publish = try PublishRequestBody.parse(try seed("publish").input, maxBodyBytes: 256)
        #expect(publish.body == "hello & <world>")
        #expect(publish.tag == "tagA")
        #expect(try MessageProperties.parse(publish.properties).map(\.name) == ["KEYS", "__STARTDELIVERTIME", "a"])
        #expect(try PublishRequestBody.parse(try seed("publish-cdata").input, maxBodyBytes: 256).body == "<raw> & body")
        #expect(throws: HTTPWireError.self) { try PublishRequestBody.parse(try seed("publish-no-body").input, maxBodyBytes: 256) }

        #expect(try ReceiptHandlesBody.parse(try seed("handles").input) == ["abc-1", "abc-2"])
        #expect(throws: HTTPWireError.self) { try ReceiptHandlesBody.parse(try seed("handles-too-many").input) }

        // Malformed entries are skipped; a repeated name keeps its last value; the result
        // survives formatting and parsing again (what the harness checks for every input).
        let properties = try MessageProperties.parse(String(decoding: try seed("properties").input, as: UTF8.self))
        #expect(properties.map(\.name) == ["KEYS", "__TransCheckT", "dup"])
        #expect(properties.map(\.value) == ["a b", "10", "2"])
        let again = try MessageProperties.parse(MessageProperties.format(properties))
        #expect(again.map(\.name) == properties.map(\.name) && again.map(\.value) == properties.map(\.value))

        // libFuzzer's first finding: a separator followed by a combining mark is still a separator.
        let combining = try MessageProperties.parse(
            String(decoding: try seed("properties-combining-mark").input, as: UTF8.self))
        #expect(combining.map(\.name) == ["a"] && combining.map(\.value) == ["b"])

        let signature = try RequestSignature.parse(
            authorization: String(decoding: try seed("authorization").input, as: UTF8.self))
        #expect(signature.accessId == "AKID123")
        #expect(throws: HTTPWireError.self) {
            try RequestSignature.parse(authorization: String(decoding: try seed("authorization-odd").input, as: UTF8.self))
        }

        #expect(HTTPDate.epochSeconds(String(decoding: try seed("date").input, as: UTF8.self)) != nil)
        #expect(HTTPDate.epochSeconds(String(decoding: try seed("date-bad").input, as: UTF8.self)) == nil)

        #expect(throws: HTTPWireError.self) { try XMLReader.parse(try seed("xml-deep").input) }
        _ = try? XMLReader.parse(try seed("xml-entities").input)
    }

    @Test("Properties: a repeated name keeps its last value however often it comes; distinct names stop at the limit")
    func repeatedNames() throws {
        let repeated = String(repeating: "a:1|", count: 100_000) + "a:2|b:3"
        let pairs = try MessageProperties.parse(repeated)
        #expect(pairs.map(\.name) == ["a", "b"] && pairs.map(\.value) == ["2", "3"])
        let atLimit = (0..<MessageProperties.maxCount).map { "k\($0):v|k\($0):w|" }.joined()
        #expect(try MessageProperties.parse(atLimit).count == MessageProperties.maxCount)
        #expect(try MessageProperties.parse(atLimit).allSatisfy { $0.value == "w" })
        #expect(throws: HTTPWireError.self) { try MessageProperties.parse(atLimit + "extra:1|") }
        // Separators at every edge: empty entries, a lone ':', an entry ending at the text's end.
        #expect(try MessageProperties.parse("||:|a:|:b|x:y").map(\.name) == ["x"])
        #expect(try MessageProperties.parse("").isEmpty)
    }
}
