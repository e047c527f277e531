import GRPCCore
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import SluiceFront

/// The connection handler's writes against swift-nio-http2's outbound buffers while the socket
/// cannot take bytes, on the real `NIOHTTP2Handler` of both ends (in memory).
@Suite("Responses written while the socket is full leave in order")
struct GRPCConnectionWritabilityTests {
    static let path = "/test.Watcher/Watch"

    /// The protocol fuzzer's crash (seed 17912852192158722675): a streamed response's headers,
    /// written unflushed while the socket was full, waited in swift-nio-http2's control-frame
    /// buffer; when the socket drained, another stream's flushed DATA was sent first and a debug
    /// build trapped (`ControlFrameBuffer`: "Received flush data frames while buffering control
    /// frames"). Before the fix this test traps the same way.
    @Test("a stream's unflushed headers and another stream's flushed message, socket full then drained")
    func unflushedHeadersWhileUnwritable() throws {
        let pair = try ConnectionPair()
        try pair.openStream(1)
        try pair.openStream(3)
        let handler = try pair.server.pipeline.syncOperations.handler(type: GRPCConnectionHandler.self)

        pair.server.isWritable = false
        pair.server.pipeline.fireChannelWritabilityChanged()
        handler.write(.headers(.init(headers: GRPCHeaders.responseHeaders([:]))), on: 1, flush: false, promise: nil)
        handler.write(.data(.init(data: .byteBuffer(ByteBuffer(string: "message")))), on: 1, flush: true, promise: nil)
        // `FrontResponder.startStream`: headers now, the first message later.
        handler.write(.headers(.init(headers: GRPCHeaders.responseHeaders([:]))), on: 3, flush: false, promise: nil)

        pair.server.isWritable = true
        pair.server.pipeline.fireChannelWritabilityChanged()
        try pair.exchange()

        // Each stream's frames in the order written; swift-nio-http2 sends control frames
        // (HEADERS) ahead of DATA across streams.
        let received = try pair.clientFrames()
        #expect(received.filter { $0.streamID == 1 }.map { Self.kind($0.payload) } == ["headers", "data"])
        #expect(received.filter { $0.streamID == 3 }.map { Self.kind($0.payload) } == ["headers"])
    }

    static func kind(_ payload: HTTP2Frame.FramePayload) -> String {
        switch payload {
        case .headers: "headers"
        case .data: "data"
        default: "other"
        }
    }
}

/// A client and a server HTTP/2 connection in memory: the server runs the front's connection
/// handler with one streaming route that never starts (its request never completes).
private struct ConnectionPair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()

    init() throws {
        let route = FrontRoute(
            descriptor: MethodDescriptor(fullyQualifiedService: "test.Watcher", method: "Watch"), kind: .serverStreaming,
            run: { _ in })
        let shared = FrontShared(routes: [GRPCConnectionWritabilityTests.path: route], maxMessageBytes: 1 << 20, maxBufferedBytes: 1 << 24)
        try client.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client))
        try server.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .server))
        try server.pipeline.syncOperations.addHandler(GRPCConnectionHandler(shared: shared, windowTarget: 1 << 16))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try client.connect(to: address).wait()
        try server.connect(to: address).wait()
        try exchange()
        _ = try clientFrames()
    }

    /// Opens a call whose request has not ended (so its stream stays open on both sides).
    func openStream(_ id: Int) throws {
        let headers: HPACKHeaders = [
            ":method": "POST", ":path": GRPCConnectionWritabilityTests.path, ":scheme": "http", ":authority": "localhost",
            "content-type": "application/grpc", "te": "trailers",
        ]
        client.writeAndFlush(HTTP2Frame(streamID: HTTP2StreamID(id), payload: .headers(.init(headers: headers))), promise: nil)
        try exchange()
    }

    /// Moves bytes both ways until neither side has more to send.
    func exchange() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes)
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                moved = true
            }
        }
    }

    /// The stream frames the client received since last asked (SETTINGS, PING and WINDOW_UPDATE left out).
    func clientFrames() throws -> [HTTP2Frame] {
        var frames: [HTTP2Frame] = []
        while let frame = try client.readInbound(as: HTTP2Frame.self) {
            switch frame.payload {
            case .headers, .data: frames.append(frame)
            default: continue
            }
        }
        return frames
    }
}
