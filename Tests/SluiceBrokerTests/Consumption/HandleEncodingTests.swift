import Crypto
import Foundation
import Testing

@testable import SluiceBroker

@Suite("receipt and recall handles: byte-level base64url, same text as before, forgery refused")
struct HandleEncodingTests {
    /// What the broker produced before the byte-level encoder: Foundation's base64 made url-safe.
    static func foundationBase64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("every length 0…80 and every byte value: the same text as Foundation's, and it decodes back")
    func sameAsFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...80 {
            for round in 0..<8 {
                let bytes: [UInt8] =
                    round == 0
                    ? [UInt8](repeating: 0xFF, count: length)
                    : round == 1 ? [UInt8](repeating: 0, count: length) : (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let text = Base64URL.encode(bytes)
                #expect(text == Self.foundationBase64URL(bytes), "length \(length)")
                #expect(Base64URL.decode(text, maximumLength: 200) == bytes, "length \(length)")
            }
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64URL.decode(Base64URL.encode(all), maximumLength: 400) == all)
    }

    @Test("standard alphabet and padding decode too; garbage, a lone digit, bad padding and overlong text do not")
    func edges() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x01]
        let standard = Data(bytes).base64EncodedString()  // "+/+/AQ=="
        #expect(Base64URL.decode(standard, maximumLength: 200) == bytes)
        #expect(Base64URL.decode("-_-_AQ", maximumLength: 200) == bytes)
        #expect(Base64URL.decode("", maximumLength: 200) == [])
        // "AR" and "AAB" carry set bits past the last byte: not the canonical text of any bytes.
        for bad in ["A", "AAAAA", "AQ=", "AQ===", "AQ=A", "=AQ", "A Q", "AQ\n", "é", "AQ\u{0}", "@@@@", "AR", "AAB"] {
            #expect(Base64URL.decode(bad, maximumLength: 200) == nil, "\(bad.debugDescription)")
        }
        #expect(Base64URL.decode(String(repeating: "A", count: 200), maximumLength: 200) != nil)
        #expect(Base64URL.decode(String(repeating: "A", count: 204), maximumLength: 200) == nil)
    }

    @Test("a receipt handle round-trips; edited, truncated, extended, or for another group or topic it is refused")
    func receiptHandles() throws {
        let key = SymmetricKey(size: .bits256)
        let handle = ReceiptHandle(queueId: 7, queueOffset: .max, deliveryToken: 0x0123_4567_89AB_CDEF, invisibleUntilMs: -1)
        let text = handle.encoded(key: key, group: "g", topic: "t")
        #expect(try ReceiptHandle.decode(text, key: key, group: "g", topic: "t") == handle)
        #expect(throws: BrokerError.self) { try ReceiptHandle.decode(text, key: key, group: "g2", topic: "t") }
        #expect(throws: BrokerError.self) { try ReceiptHandle.decode(text, key: key, group: "gt", topic: "") }
        #expect(throws: BrokerError.self) { try ReceiptHandle.decode(String(text.dropLast()), key: key, group: "g", topic: "t") }
        #expect(throws: BrokerError.self) { try ReceiptHandle.decode(text + "AA", key: key, group: "g", topic: "t") }
        #expect(throws: BrokerError.self) { try ReceiptHandle.decode("", key: key, group: "g", topic: "t") }
        for index in text.indices {
            var edited = text
            edited.replaceSubrange(index...index, with: text[index] == "A" ? "B" : "A")
            #expect(throws: BrokerError.self) { try ReceiptHandle.decode(edited, key: key, group: "g", topic: "t") }
        }
    }

    @Test("a recall handle round-trips and is bound to its topic")
    func recallHandles() throws {
        let key = SymmetricKey(size: .bits256)
        let handle = RecallHandle(physicalOffset: 42, queueId: 3, queueOffset: 9, deliveryMs: 1_700_000_000_000, messageId: "01ABCDEF")
        let text = handle.encoded(key: key, topic: "delayed")
        let back = try RecallHandle.decode(text, key: key, topic: "delayed")
        #expect(back.physicalOffset == 42 && back.queueOffset == 9 && back.messageId == "01ABCDEF")
        #expect(throws: BrokerError.self) { try RecallHandle.decode(text, key: key, topic: "other") }
    }
}
