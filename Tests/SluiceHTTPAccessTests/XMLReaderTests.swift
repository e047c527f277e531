import SluiceHTTPWire
import Testing

@Suite("XMLReader: the HTTP protocol's bounded XML")
struct XMLReaderTests {
    /// What mq-http-sdk 1.0.3 sends for a publish (minidom's toxml, properties in dict order).
    static let sdkPublish = #"<?xml version="1.0" encoding="utf-8"?><Message xmlns="http://mq.aliyuncs.com/doc/v1/"><MessageBody>a &lt;b&gt; &amp; &quot;c&quot;</MessageBody><Properties>KEYS:k1|__STARTDELIVERTIME:1796490605000|</Properties><MessageTag>TagA</MessageTag></Message>"#

    @Test("reads the SDK's publish document")
    func sdkPublish() throws {
        let root = try XMLReader.parse(Array(Self.sdkPublish.utf8))
        #expect(root.name == "Message")
        #expect(root.children.map(\.name) == ["MessageBody", "Properties", "MessageTag"])
        #expect(root.child("MessageBody")?.text == #"a <b> & "c""#)
        let body = try PublishRequestBody.parse(Array(Self.sdkPublish.utf8), maxBodyBytes: 1024)
        #expect(body.tag == "TagA")
        #expect(body.properties == "KEYS:k1|__STARTDELIVERTIME:1796490605000|")
    }

    @Test("character references, CDATA, comments, a BOM, single quotes and empty elements")
    func edgeConstructs() throws {
        let text = "\u{FEFF}<!-- before --><R a='1' b=\"&amp;\"><A>&#65;&#x42;&#x10FFFF;</A><B><![CDATA[<raw> & ]]></B><C/><D></D><!-- x --></R>\n"
        let root = try XMLReader.parse(Array(text.utf8))
        #expect(root.child("A")?.text == "AB\u{10FFFF}")
        #expect(root.child("B")?.text == "<raw> & ")
        #expect(root.child("C") == XMLElement(name: "C"))
        #expect(root.child("D")?.text == "")
    }

    @Test(
        "refuses what is not well-formed",
        arguments: [
            "", "   ", "text", "<A>", "<A></B>", "<A><B></A></B>", "<A>&bogus;</A>", "<A>&#0;</A>", "<A>&#xD800;</A>",
            "<A>&#x110000;</A>", "<A>& </A>", "<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>", "<A></A><B></B>",
            "<A></A>trailing", "<A b></A>", "<A b=1></A>", "<A b=\"<\"></A>", "<1A></1A>", "<A><![CDATA[x</A>",
            "<A><!-- x</A>", "<A", "</A>", "<A>\u{0}</A> extra",
        ])
    func malformed(_ text: String) {
        #expect(throws: HTTPWireError.self) { try XMLReader.parse(Array(text.utf8)) }
    }

    @Test("refuses text that is not UTF-8")
    func invalidUTF8() {
        let bytes: [UInt8] = Array("<A>".utf8) + [0xFF, 0xFE] + Array("</A>".utf8)
        #expect(throws: HTTPWireError.self) { try XMLReader.parse(bytes) }
    }

    @Test("bounds depth, element count, text size and name length")
    func limits() throws {
        let deep = String(repeating: "<a>", count: 10_000) + String(repeating: "</a>", count: 10_000)
        #expect(throws: HTTPWireError(.tooLarge, "elements nested deeper than 4")) { try XMLReader.parse(Array(deep.utf8)) }
        let wide = "<R>" + String(repeating: "<a/>", count: 100) + "</R>"
        #expect(throws: HTTPWireError(.tooLarge, "more than 64 elements")) { try XMLReader.parse(Array(wide.utf8)) }
        let big = "<R>" + String(repeating: "x", count: 33) + "</R>"
        #expect(throws: HTTPWireError(.tooLarge, "text of <R> is over 32 bytes")) {
            try XMLReader.parse(Array(big.utf8), limits: XMLLimits(maxTextBytes: 32))
        }
        // Entities count after replacement: 32 references are 32 bytes of text.
        let escaped = "<R>" + String(repeating: "&lt;", count: 32) + "</R>"
        #expect(try XMLReader.parse(Array(escaped.utf8), limits: XMLLimits(maxTextBytes: 32)).text.count == 32)
        let longName = "<" + String(repeating: "n", count: 65) + "/>"
        #expect(throws: HTTPWireError.self) { try XMLReader.parse(Array(longName.utf8)) }
    }

    @Test("a publish body over the limit is too large, a missing body is unexpected")
    func publishLimits() {
        let doc = "<Message><MessageBody>" + String(repeating: "y", count: 11) + "</MessageBody></Message>"
        #expect(throws: HTTPWireError(.tooLarge, "text of <MessageBody> is over 10 bytes")) {
            try PublishRequestBody.parse(Array(doc.utf8), maxBodyBytes: 10)
        }
        #expect(throws: HTTPWireError(.unexpected, "<Message> has no <MessageBody>")) {
            try PublishRequestBody.parse(Array("<Message><MessageTag>t</MessageTag></Message>".utf8), maxBodyBytes: 10)
        }
        #expect(throws: HTTPWireError.self) {
            try PublishRequestBody.parse(Array("<Other><MessageBody>x</MessageBody></Other>".utf8), maxBodyBytes: 10)
        }
    }

    @Test("receipt handles: the SDK's list, at most 16, the right root")
    func receiptHandles() throws {
        let sdk = #"<?xml version="1.0" encoding="utf-8"?><ReceiptHandles xmlns="http://mq.aliyuncs.com/doc/v1/"><ReceiptHandle>h1</ReceiptHandle><ReceiptHandle>C.t&amp;2</ReceiptHandle></ReceiptHandles>"#
        #expect(try ReceiptHandlesBody.parse(Array(sdk.utf8)) == ["h1", "C.t&2"])
        let many = "<ReceiptHandles>" + String(repeating: "<ReceiptHandle>h</ReceiptHandle>", count: 17) + "</ReceiptHandles>"
        #expect(throws: HTTPWireError.self) { try ReceiptHandlesBody.parse(Array(many.utf8)) }
        #expect(throws: HTTPWireError.self) { try ReceiptHandlesBody.parse(Array("<ReceiptHandles></ReceiptHandles>".utf8)) }
        #expect(throws: HTTPWireError.self) { try ReceiptHandlesBody.parse(Array("<Handles><ReceiptHandle>h</ReceiptHandle></Handles>".utf8)) }
    }
}
