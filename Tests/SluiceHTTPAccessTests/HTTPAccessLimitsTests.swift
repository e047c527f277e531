import Testing

@testable import SluiceHTTPAccess

@Suite("HTTPAccessLimits: client numbers never trap")
struct HTTPAccessLimitsTests {
    @Test(
        "numOfMessages is 1 to 16",
        arguments: [("1", 1), ("16", 16), ("0", nil), ("17", nil), ("-1", nil), ("", nil), ("abc", nil), ("1.5", nil),
            ("99999999999999999999999", nil), ("9223372036854775807", nil), ("+3", 3)] as [(String, Int?)])
    func batch(_ text: String, _ expected: Int?) {
        let result = try? HTTPAccessLimits.number(text[...], "numOfMessages", in: HTTPAccessLimits.batchRange, default: 1)
        #expect(result == expected)
    }

    @Test("waitseconds is 0 to 30; absent is the default")
    func wait() throws {
        #expect(try HTTPAccessLimits.number(nil, "waitseconds", in: HTTPAccessLimits.waitSecondsRange, default: 0) == 0)
        #expect(try HTTPAccessLimits.number("30", "waitseconds", in: HTTPAccessLimits.waitSecondsRange, default: 0) == 30)
        #expect(throws: HTTPAccessError.self) {
            try HTTPAccessLimits.number("31", "waitseconds", in: HTTPAccessLimits.waitSecondsRange, default: 0)
        }
    }

    @Test("the publish request limit never overflows")
    func publishLimit() {
        #expect(HTTPAccessLimits(maxBodyBytes: .max).maxPublishRequestBytes > 0)
        #expect(HTTPAccessLimits(maxBodyBytes: 4 << 20).maxPublishRequestBytes == (8 << 20) + 64 * 1024)
    }

    @Test("transaction handles: publish and check prefixes, nothing else")
    func transactionHandles() {
        #expect(TransactionHandle("P.abc") == TransactionHandle(transactionId: "abc", fromCheck: false))
        #expect(TransactionHandle("C.abc") == TransactionHandle(transactionId: "abc", fromCheck: true))
        for bad in ["", "P.", "X.abc", "abc", "P" + String(repeating: "x", count: 300)] {
            #expect(TransactionHandle(bad) == nil)
        }
    }
}
