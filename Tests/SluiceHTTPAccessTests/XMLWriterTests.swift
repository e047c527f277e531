import SluiceHTTPWire
import Testing

@Suite("XMLWriter and the response documents")
struct XMLWriterTests {
    @Test(
        "escaped text reads back unchanged",
        arguments: ["plain", "<&>\"'", "line\r\nbreak\ttab", "中文 ✓ \u{10FFFF}", "]]>", ""])
    func roundTrip(_ text: String) throws {
        var writer = XMLWriter()
        writer.openRoot("R")
        writer.leaf("T", text)
        writer.close("R")
        let root = try XMLReader.parse(writer.bytes)
        #expect(root.child("T")?.text == text)
    }

    @Test("characters XML cannot carry become U+FFFD")
    func controlCharacters() throws {
        var writer = XMLWriter()
        writer.openRoot("R")
        writer.leaf("T", "a\u{0}b\u{1F}c\u{FFFE}")
        writer.close("R")
        #expect(try XMLReader.parse(writer.bytes).child("T")?.text == "a\u{FFFD}b\u{FFFD}c\u{FFFD}")
    }

    @Test("the messages document carries every field the SDK requires")
    func messages() throws {
        let message = ResponseBodies.ConsumedMessage(
            messageId: "M1", receiptHandle: "H<1>", bodyMD5: "ABC", body: "body & more", publishTimeMs: 1,
            firstConsumeTimeMs: 2, nextConsumeTimeMs: 3, consumedTimes: 4, tag: "T", properties: "a:b|")
        let root = try XMLReader.parse(ResponseBodies.messages([message, message]))
        #expect(root.name == "Messages")
        #expect(root.children.count == 2)
        let first = try #require(root.children.first)
        for name in ["MessageId", "ReceiptHandle", "MessageBodyMD5", "MessageBody", "PublishTime", "FirstConsumeTime",
            "NextConsumeTime", "ConsumedTimes", "MessageTag", "Properties"]
        {
            #expect(first.child(name) != nil, "missing \(name)")
        }
        #expect(first.child("ReceiptHandle")?.text == "H<1>")
        #expect(first.child("ConsumedTimes")?.text == "4")
    }

    @Test("error and handle-error documents")
    func errors() throws {
        let error = try XMLReader.parse(ResponseBodies.error(code: "TopicNotExist", message: "m", requestId: "R", hostId: "h"))
        #expect(error.children.map(\.name) == ["Code", "Message", "RequestId", "HostId"])
        let list = try XMLReader.parse(
            ResponseBodies.handleErrors([.init(code: "ReceiptHandleError", message: "bad", receiptHandle: "x")]))
        #expect(list.name == "Errors")
        #expect(list.children.first?.children.map(\.name) == ["ErrorCode", "ErrorMessage", "ReceiptHandle"])
    }

    @Test("properties: the SDK's format both ways, bounded")
    func properties() throws {
        let parsed = try MessageProperties.parse("KEYS:k1 k2|a:1|bad|:x|y:|a:2|c:d:e|")
        #expect(parsed.map(\.name) == ["KEYS", "a"])
        #expect(parsed.map(\.value) == ["k1 k2", "2"])
        #expect(MessageProperties.format([("a", "1"), ("b|", "2"), ("c", "x:y"), ("d", "")]) == "a:1|")
        let many = (0...128).map { "p\($0):v|" }.joined()
        #expect(throws: HTTPWireError.self) { try MessageProperties.parse(many) }
        #expect(try MessageProperties.parse("").isEmpty)
    }
}
