import SluiceBroker
import Testing

@Suite("DurationParser")
struct DurationParserTests {
    @Test("reads a whole number and a unit", arguments: [
        ("500ms", Duration.milliseconds(500)), ("6s", .seconds(6)), ("2m", .seconds(120)), ("1h", .seconds(3600)),
        ("0s", .zero), ("1000000ms", .seconds(1000)),
    ])
    func parsesValidText(_ text: String, _ expected: Duration) throws {
        #expect(try DurationParser.parse(text).get() == expected)
    }

    @Test("refuses anything else and says what it expected", arguments: [
        "5", "5 parsecs", "6 s", "6sec", "1.5s", "-1s", "s", "", "ms", "1d", "1000001h",
    ])
    func refusesInvalidText(_ text: String) {
        guard case .failure(let failure) = DurationParser.parse(text) else {
            Issue.record("'\(text)' was accepted")
            return
        }
        #expect(failure.reason.contains("'\(text)'"))
    }

    @Test("formats with the largest exact unit", arguments: [
        (Duration.milliseconds(500), "500ms"), (.seconds(6), "6s"), (.seconds(120), "2m"), (.seconds(7200), "2h"),
        (.milliseconds(1500), "1500ms"),
    ])
    func formats(_ duration: Duration, _ expected: String) {
        #expect(DurationParser.format(duration) == expected)
    }
}
