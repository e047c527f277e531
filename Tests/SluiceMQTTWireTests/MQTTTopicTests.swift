import SluiceMQTTWire
import Testing

@Suite("MQTT topic filters")
struct MQTTTopicTests {
    @Test(
        "matching follows §4.7",
        arguments: [
            ("a/b/c", "a/b/c", true), ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false), ("a/#", "a/b/c", true),
            ("a/#", "a", true), ("#", "a/b", true), ("+", "a", true), ("+", "a/b", false), ("+/+", "/a", true),
            ("a/+", "a/", true), ("a/b", "a/b/c", false), ("a/b/c", "a/b", false), ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false), ("$SYS/#", "$SYS/x", true),
        ])
    func matches(_ filter: String, _ name: String, _ expected: Bool) {
        #expect(MQTTTopic.matches(filter: filter, name: name) == expected)
    }

    @Test("filters with misplaced wildcards are refused", arguments: ["", "a/#/b", "a#", "a/b+", "+a", "##"])
    func badFilter(_ filter: String) {
        #expect(throws: MQTTWireError.self) { try MQTTTopic.checkFilter(filter) }
    }

    @Test("valid filters pass", arguments: ["#", "+", "a/+/b/#", "/", "a//b", "$share/g/a/#"])
    func goodFilter(_ filter: String) throws {
        try MQTTTopic.checkFilter(filter)
    }
}
