import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf

/// Writes a call's response onto its HTTP/2 stream channel from any task.
///
/// Each write hops to the stream's event loop once; a unary response (headers, message,
/// trailers) is one hop and one flush. Writes fail once the stream is closed (the client reset it
/// or went away), so a producer that writes to a gone client learns so and stops.
struct FrontResponder: Sendable {
    let channel: any Channel

    /// Headers, one message and trailers with a status, flushed together.
    func respond(message: ByteBuffer, metadata: Metadata, trailing: Metadata) {
        let channel = self.channel
        if channel.eventLoop.inEventLoop {
            Self.writeResponse(channel, message, metadata, trailing)
        } else {
            channel.eventLoop.execute { Self.writeResponse(channel, message, metadata, trailing) }
        }
    }

    private static func writeResponse(_ channel: any Channel, _ message: ByteBuffer, _ metadata: Metadata, _ trailing: Metadata) {
        channel.write(HTTP2Frame.FramePayload.headers(.init(headers: GRPCHeaders.responseHeaders(metadata))), promise: nil)
        channel.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message))), promise: nil)
        channel.writeAndFlush(
            HTTP2Frame.FramePayload.headers(.init(headers: GRPCHeaders.trailers(.ok, "", metadata: trailing), endStream: true)),
            promise: nil)
    }

    /// A response of trailers only: the call is refused or failed before any message.
    func refuse(_ code: GRPCStatusCode, _ message: String, metadata: Metadata = [:]) {
        let headers = GRPCHeaders.trailersOnly(code, message, metadata: metadata)
        channel.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: true)), promise: nil)
    }

    /// The headers that open a streamed response. Not flushed: they leave with the first
    /// message (or the trailers), one flush fewer per call.
    func startStream(metadata: Metadata) {
        channel.write(HTTP2Frame.FramePayload.headers(.init(headers: GRPCHeaders.responseHeaders(metadata))), promise: nil)
    }

    /// One message of a streamed response; returns once the stream took it (HTTP/2 flow control
    /// holds it back while the client does not read), so a slow client slows its producer.
    func write(message: ByteBuffer) async throws {
        try await channel.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message))))
    }

    /// Several messages of a streamed response in one hop to the event loop and one flush (a
    /// receive's status and its batch of messages); returns once the stream took the last one.
    /// If the stream closes part-way, it throws and the caller cannot tell which ones left.
    func write(messages: [ByteBuffer]) async throws {
        guard let last = messages.last else { return }
        let channel = self.channel
        let written = channel.eventLoop.makePromise(of: Void.self)
        let writeAll = {
            for message in messages.dropLast() {
                channel.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message))), promise: nil)
            }
            channel.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(last))), promise: written)
        }
        if channel.eventLoop.inEventLoop { writeAll() } else { channel.eventLoop.execute(writeAll) }
        try await written.futureResult.get()
    }

    /// The trailers that end a streamed response.
    func finishStream(_ code: GRPCStatusCode, _ message: String, trailing: Metadata = [:]) {
        channel.writeAndFlush(
            HTTP2Frame.FramePayload.headers(.init(headers: GRPCHeaders.trailers(code, message, metadata: trailing), endStream: true)),
            promise: nil)
    }
}

/// `RPCWriter`'s view of a streamed response: encodes each message and writes it in order.
struct FrontMessageWriter<Message: SwiftProtobuf.Message>: RPCWriterProtocol {
    let responder: FrontResponder

    func write(_ element: Message) async throws {
        try await responder.write(message: element.grpcFrame())
    }

    func write(contentsOf elements: some Sequence<Message>) async throws {
        try await responder.write(messages: elements.map { try $0.grpcFrame() })
    }
}
