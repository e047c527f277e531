import Foundation
import Crypto
import SluiceBroker
import Testing

@Suite("SignedRequest: RocketMQ 5's MQv2-HMAC-SHA1 header")
struct SignedRequestTests {
    /// Computed with Python's hmac module, as `rocketmq/v5/util/signature.py` signs.
    static let dateTime = "20261204T174223Z"
    static let pythonSignature = "f9ab8ca18cfdd803b0ad382d8385ea647b2a4d7a"
    static let header =
        "MQv2-HMAC-SHA1 Credential=alice, SignedHeaders=x-mq-date-time, Signature=\(pythonSignature)"

    @Test("signs exactly as the official Python client does")
    func signMatchesPython() {
        #expect(SignedRequest.sign(secret: "secret-key-1", dateTime: Self.dateTime) == Self.pythonSignature)
    }

    @Test("parses the official header and verifies it with the right secret only")
    func parseAndVerify() throws {
        let request = try SignedRequest.parse(authorization: Self.header, dateTime: Self.dateTime)
        #expect(request.accessKey == "alice")
        #expect(request.dateTime == Self.dateTime)
        #expect(request.isSigned(with: SymmetricKey(data: Array("secret-key-1".utf8))))
        #expect(!request.isSigned(with: SymmetricKey(data: Array("secret-key-2".utf8))))
        // The same signature over another date-time is not valid (no replay across seconds).
        let moved = try SignedRequest.parse(authorization: Self.header, dateTime: "20261204T174224Z")
        #expect(!moved.isSigned(with: SymmetricKey(data: Array("secret-key-1".utf8))))
    }

    @Test("upper-case hex is accepted (the Java client's encoder)")
    func upperCaseHex() throws {
        let header = Self.header.replacingOccurrences(of: Self.pythonSignature, with: Self.pythonSignature.uppercased())
        let request = try SignedRequest.parse(authorization: header, dateTime: Self.dateTime)
        #expect(request.isSigned(with: SymmetricKey(data: Array("secret-key-1".utf8))))
    }

    @Test(
        "refuses malformed headers with a message naming the part",
        arguments: [
            ("Bearer abc", "must start with"),
            ("MQv2-HMAC-SHA1 SignedHeaders=x-mq-date-time, Signature=\(pythonSignature)", "Credential"),
            ("MQv2-HMAC-SHA1 Credential=alice, SignedHeaders=host, Signature=\(pythonSignature)", "SignedHeaders"),
            ("MQv2-HMAC-SHA1 Credential=alice, SignedHeaders=x-mq-date-time, Signature=zz", "40 hex digits"),
            ("MQv2-HMAC-SHA1 Credential=alice, SignedHeaders=x-mq-date-time, Signature=abcd", "40 hex digits"),
            ("MQv2-HMAC-SHA1 Credential=alice, SignedHeaders", "without '='"),
            ("MQv2-HMAC-SHA1 " + String(repeating: "x", count: 2000), "limit"),
        ])
    func malformed(header: String, expected: String) {
        do {
            _ = try SignedRequest.parse(authorization: header, dateTime: Self.dateTime)
            Issue.record("accepted \(header)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("a missing x-mq-date-time is refused")
    func missingDate() {
        #expect(throws: SignedRequest.Malformed.self) {
            try SignedRequest.parse(authorization: Self.header, dateTime: nil)
        }
    }

    @Test(
        "parses x-mq-date-time to epoch seconds",
        arguments: [
            ("19700101T000000Z", Int64(0)), ("20261204T174223Z", Int64(1_796_406_143)),
            ("20000229T235959Z", Int64(951_868_799)),
        ])
    func epoch(text: String, seconds: Int64) {
        #expect(SignedRequest.epochSeconds(of: text) == seconds)
    }

    @Test("rejects date-times of another shape", arguments: ["2026-12-04T17:42:23Z", "20261304T000000Z", "20261204T250000Z", "", "2026120xT000000Z"])
    func badDates(text: String) {
        #expect(SignedRequest.epochSeconds(of: text) == nil)
    }
}
