import SluiceBroker
import Testing

@Suite("ByteSizeParser")
struct ByteSizeParserTests {
    @Test("reads bytes with optional binary suffixes", arguments: [
        ("4096", 4096), ("4096B", 4096), ("64KiB", 64 << 10), ("64MiB", 64 << 20), ("1GiB", 1 << 30),
    ])
    func parsesValidText(_ text: String, _ expected: Int) throws {
        #expect(try ByteSizeParser.parse(text).get() == expected)
    }

    @Test("refuses decimal suffixes, fractions and garbage", arguments: [
        "64MB", "1.5GiB", "-1", "MiB", "", "lots", "99999999999999999999GiB",
    ])
    func refusesInvalidText(_ text: String) {
        guard case .failure = ByteSizeParser.parse(text) else {
            Issue.record("'\(text)' was accepted")
            return
        }
    }

    @Test("formats with the largest exact suffix")
    func formats() {
        #expect(ByteSizeParser.format(1 << 30) == "1GiB")
        #expect(ByteSizeParser.format(3 << 20) == "3MiB")
        #expect(ByteSizeParser.format(4096) == "4KiB")
        #expect(ByteSizeParser.format(1000) == "1000")
    }
}
