import GRPCCore
import NIOCore
import NIOHPACK
import SluiceWire
import Testing

@testable import SluiceFront

@Suite("gRPC framing of Sluice's own server: messages, limits, headers")
struct GRPCFramingTests {
    private func frame(_ payload: [UInt8], flag: UInt8 = 0, declared: UInt32? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(flag)
        buffer.writeInteger(declared ?? UInt32(payload.count))
        buffer.writeBytes(payload)
        return buffer
    }

    @Test("a message split over many DATA frames, and two messages in one, come out whole and in order")
    func splitAndJoined() throws {
        var deframer = GRPCDeframer(maxMessageBytes: 1024)
        let whole = frame(Array(0..<200))
        for start in stride(from: 0, to: whole.readableBytes, by: 7) {
            #expect(try deframer.next() == nil)
            deframer.append(whole.getSlice(at: start, length: min(7, whole.readableBytes - start))!)
        }
        #expect(try deframer.next() == ByteBuffer(bytes: Array(0..<200)))
        #expect(try deframer.next() == nil)
        #expect(deframer.bufferedBytes == 0)

        var two = frame([1, 2, 3])
        var second = frame([])
        two.writeBuffer(&second)
        deframer.append(two)
        #expect(try deframer.next() == ByteBuffer(bytes: [1, 2, 3]))
        #expect(try deframer.next() == ByteBuffer())
        #expect(try deframer.next() == nil)
    }

    @Test("a declared length over the limit is refused before its bytes arrive, with the sizes")
    func oversized() {
        var deframer = GRPCDeframer(maxMessageBytes: 100)
        deframer.append(frame([], declared: UInt32.max))
        #expect(throws: FramingError(
            code: .resourceExhausted, message: "the request message is 4294967295 bytes; the limit is 100 bytes")) {
            try deframer.next()
        }
    }

    @Test("compressed and invalid flags are refused", arguments: [(UInt8(1), GRPCStatusCode.unimplemented), (2, .internalError), (255, .internalError)])
    func flags(flag: UInt8, code: GRPCStatusCode) {
        var deframer = GRPCDeframer(maxMessageBytes: 100)
        deframer.append(frame([1], flag: flag))
        #expect(performing: { try deframer.next() }, throws: { ($0 as? FramingError)?.code == code })
    }

    @Test("an encoded message is framed in place and decodes back")
    func roundTrip() throws {
        var request = Apache_Rocketmq_V2_HeartbeatRequest()
        request.group.name = "g"
        var framed = try request.grpcFrame()
        #expect(framed.readInteger(as: UInt8.self) == 0)
        let read = framed.readInteger(as: UInt32.self)
        let length = try #require(read)
        #expect(Int(length) == framed.readableBytes)
        #expect(try Apache_Rocketmq_V2_HeartbeatRequest(grpcPayload: framed) == request)
        // An empty message is an empty frame.
        #expect(try Apache_Rocketmq_V2_HeartbeatRequest().grpcFrame().readableBytes == GRPCFrame.prefixBytes)
    }

    @Test("request headers: metadata kept, transport headers dropped, -bin decoded, bad calls refused")
    func requestHeaders() throws {
        let headers: HPACKHeaders = [
            ":method": "POST", ":path": "/apache.rocketmq.v2.MessagingService/Heartbeat", ":scheme": "http",
            "content-type": "application/grpc", "te": "trailers", "x-mq-client-id": "c1", "trace-bin": "AQID",
            "grpc-timeout": "3S",
        ]
        let request = try GRPCHeaders.request(headers)
        #expect(request.path == "/apache.rocketmq.v2.MessagingService/Heartbeat")
        #expect(Array(request.metadata["x-mq-client-id"]) == [.string("c1")])
        #expect(Array(request.metadata["trace-bin"]) == [.binary([1, 2, 3])])
        #expect(Array(request.metadata["te"]).isEmpty && Array(request.metadata["grpc-timeout"]).isEmpty)

        var get = headers
        get.replaceOrAdd(name: ":method", value: "GET")
        #expect(performing: { try GRPCHeaders.request(get) }, throws: { ($0 as? FramingError)?.code == .unimplemented })
        var json = headers
        json.replaceOrAdd(name: "content-type", value: "application/grpc+json")
        #expect(performing: { try GRPCHeaders.request(json) }, throws: { ($0 as? FramingError)?.code == .invalidArgument })
        var gzip = headers
        gzip.add(name: "grpc-encoding", value: "gzip")
        #expect(performing: { try GRPCHeaders.request(gzip) }, throws: { ($0 as? FramingError)?.code == .unimplemented })
    }

    @Test("request headers that HTTP/2 calls malformed are refused (swift-nio-http2's own check is off)")
    func malformedRequestHeaders() throws {
        let headers: HPACKHeaders = [
            ":method": "POST", ":path": "/apache.rocketmq.v2.MessagingService/Heartbeat", ":scheme": "http",
            "content-type": "application/grpc", "te": "trailers",
        ]
        var malformed: [HPACKHeaders] = []
        for (name, value) in [
            ("X-Mq-Client-Id", "c1"), ("x-mq-client-id", "c1\r\nx-evil: 1"), ("x-nul", "a\u{0}b"), ("bad name", "v"),
            ("connection", "keep-alive"), ("upgrade", "h2c"), ("", "v"),
        ] {
            var block = headers
            block.add(name: name, value: value)
            malformed.append(block)
        }
        var te = headers
        te.replaceOrAdd(name: "te", value: "gzip")
        malformed.append(te)
        var noPath = headers
        noPath.remove(name: ":path")
        malformed.append(noPath)
        for block in malformed {
            #expect(performing: { try GRPCHeaders.request(block) }, throws: { ($0 as? FramingError)?.code == .invalidArgument })
        }
        // Allowed: any token, spaces and non-ASCII bytes inside a value.
        var fine = headers
        fine.add(name: "x-odd_name.1~", value: "a value, with spaces and é")
        #expect(Array(try GRPCHeaders.request(fine).metadata["x-odd_name.1~"]) == [.string("a value, with spaces and é")])
    }

    @Test("grpc-message is percent-encoded as gRPC wants")
    func percentEncoding() {
        #expect(GRPCHeaders.percentEncoded("topic t: 100% full") == "topic t: 100%25 full")
        #expect(GRPCHeaders.percentEncoded("é\n") == "%C3%A9%0A")
    }
}

@Suite("flow-control window top-ups")
struct InboundWindowTests {
    @Test("nothing while more than half the target is left; up to the target once half or less is")
    func halfway() {
        let target = 1 << 20
        #expect(InboundWindow.increment(window: target, target: target) == nil)
        #expect(InboundWindow.increment(window: target + 5, target: target) == nil)
        #expect(InboundWindow.increment(window: target / 2 + 1, target: target) == nil)
        #expect(InboundWindow.increment(window: target / 2, target: target) == target / 2)
        #expect(InboundWindow.increment(window: 0, target: target) == target)
        // The connection starts at HTTP/2's 65,535 bytes whatever SETTINGS say: the first top-up
        // raises it to the target.
        #expect(InboundWindow.increment(window: 65_535, target: target) == target - 65_535)
    }

    @Test("a negative window gets its debt and the target, never more than HTTP/2's largest window")
    func negative() {
        #expect(InboundWindow.increment(window: -100, target: 1_000) == 1_100)
        #expect(InboundWindow.increment(window: -Int(Int32.max), target: 1 << 20) == Int(Int32.max))
        #expect(InboundWindow.increment(window: Int.min, target: 1 << 20) == Int(Int32.max))
    }
}
