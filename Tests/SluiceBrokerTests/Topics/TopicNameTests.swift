import SluiceBroker
import Testing

@Suite("TopicName")
struct TopicNameTests {
    @Test("accepts RocketMQ's character set up to 127 characters", arguments: [
        "orders", "Orders-2024_v1", "a", String(repeating: "x", count: 127), "a%b",
    ])
    func accepts(_ name: String) throws {
        try TopicName.validate(name)
    }

    @Test("refuses bad names with a message naming the rule", arguments: [
        ("", "must not be empty"),
        (String(repeating: "x", count: 128), "128 characters; limit 127"),
        ("orders.eu", "'.' is not allowed"),
        ("with space", "' ' is not allowed"),
        ("naïve", "is not allowed"),
        ("a/b", "'/' is not allowed"),
        ("RMQ_SYS_TRANS_HALF_TOPIC", "'RMQ_SYS_' are reserved"),
        ("%DLQ%group", "'%' are reserved"),
    ])
    func refuses(_ name: String, _ expected: String) {
        let error = #expect(throws: BrokerError.self) { try TopicName.validate(name) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test("message types parse case-insensitively and list the choices on a bad value")
    func messageTypes() throws {
        #expect(try TopicMessageType.parse("FIFO") == .fifo)
        #expect(TopicMessageType.allCases.map(\.rawValue) == ["normal", "fifo", "delay", "transaction", "priority", "lite"])
        let error = #expect(throws: BrokerError.self) { try TopicMessageType.parse("ordered") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "type: expected one of normal|fifo|delay|transaction|priority|lite; got 'ordered'")
    }
}
