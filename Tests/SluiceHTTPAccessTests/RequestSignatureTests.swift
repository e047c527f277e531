import Crypto
import SluiceHTTPWire
import Testing

@Suite("RequestSignature: the SDK's MQ AccessId:Signature")
struct RequestSignatureTests {
    /// Computed with the SDK's own code path (Python hmac/hashlib/base64) for key "sk-test".
    static let expected = "172mHqoo+7nmvoeeihRzh2QGGtg="

    @Test("builds the SDK's string to sign and matches its signature")
    func knownVector() throws {
        let bytes = RequestSignature.stringToSign(
            method: "POST", contentMD5: "", contentType: "text/xml;charset=UTF-8", date: "Sat, 05 Dec 2026 17:10:05 GMT",
            headers: [("Host", "h"), ("X-MQ-Version", "2015-06-06"), ("user-agent", "x")],
            resource: "/topics/orders/messages?ns=MQ_INST_1")
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: bytes, using: SymmetricKey(data: Array("sk-test".utf8)))
        let parsed = try RequestSignature.parse(authorization: "MQ ak:" + Self.expected)
        #expect(parsed.accessId == "ak")
        #expect(parsed.signature == Array(code))
    }

    @Test("x-mq headers are sorted by lower-cased name")
    func headerOrder() {
        let text = String(decoding: RequestSignature.stringToSign(
            method: "GET", contentMD5: "m", contentType: "", date: "d",
            headers: [("x-mq-b", "2"), ("X-MQ-A", "1"), ("x-other", "3")], resource: "/r"), as: UTF8.self)
        #expect(text == "GET\nm\n\nd\nx-mq-a:1\nx-mq-b:2\n/r")
    }

    @Test(
        "refuses malformed Authorization headers",
        arguments: ["", "MQ", "MQ ak", "MQ :c2ln", "Basic ak:c2ln", "MQ ak:not base64!", "MQ ak:abc", "MQ ak:ab=c",
            "MQ ak:", "MQ :::", "MQ ak:" + String(repeating: "A", count: 2000)])
    func malformed(_ header: String) {
        #expect(throws: HTTPWireError.self) { try RequestSignature.parse(authorization: header) }
    }

    @Test("RFC 1123 dates as the SDK writes them")
    func dates() {
        #expect(HTTPDate.epochSeconds("Sat, 05 Dec 2026 17:10:05 GMT") == 1_796_490_605)
        #expect(HTTPDate.epochSeconds("Thu, 29 Feb 2024 23:59:59 GMT") == 1_709_251_199)
        for bad in ["", "Sat, 05 Dec 2026 17:10:05", "Sat, 32 Dec 2026 17:10:05 GMT", "Sat, 05 Foo 2026 17:10:05 GMT",
            "Sat, 05 Dec 2026 24:10:05 GMT", "Sat, 05 Dec 99999999999 17:10:05 GMT", "Sat, 05 Dec 2026 1:1:1 GMT"]
        {
            #expect(HTTPDate.epochSeconds(bad) == nil, "\(bad)")
        }
    }
}
