import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf

/// Writes a call's response onto its HTTP/2 stream from any task.
///
/// Each write hops to the connection's event loop once; a unary response (headers, message,
/// trailers) is one hop and one flush. Writes fail once the stream is closed (the client reset it
/// or went away), so a producer that writes to a gone client learns so and stops.
struct FrontResponder: Sendable {
    let connection: NIOLoopBound<GRPCConnectionHandler>
    let streamID: HTTP2StreamID

    private var eventLoop: any EventLoop { connection.eventLoop }

    /// Runs `body` with the connection's handler on its event loop: at once when already there.
    private func onLoop(_ body: @escaping (GRPCConnectionHandler) -> Void) {
        let connection = self.connection
        if connection.eventLoop.inEventLoop {
            body(connection.value)
        } else {
            connection.eventLoop.execute { body(connection.value) }
        }
    }

    /// Headers, one message and trailers with a status, flushed together.
    func respond(message: ByteBuffer, metadata: Metadata, trailing: Metadata) {
        let id = streamID
        onLoop { connection in
            connection.write(.headers(.init(headers: GRPCHeaders.responseHeaders(metadata))), on: id, flush: false, promise: nil)
            connection.write(.data(.init(data: .byteBuffer(message))), on: id, flush: false, promise: nil)
            connection.write(
                .headers(.init(headers: GRPCHeaders.trailers(.ok, "", metadata: trailing), endStream: true)), on: id, flush: true,
                promise: nil)
        }
    }

    /// A response of trailers only: the call is refused or failed before any message.
    func refuse(_ code: GRPCStatusCode, _ message: String, metadata: Metadata = [:]) {
        let id = streamID
        let headers = GRPCHeaders.trailersOnly(code, message, metadata: metadata)
        onLoop { connection in
            connection.write(.headers(.init(headers: headers, endStream: true)), on: id, flush: true, promise: nil)
        }
    }

    /// The headers that open a streamed response. Not flushed: they leave with the first
    /// message (or the trailers), one flush fewer per call.
    func startStream(metadata: Metadata) {
        let id = streamID
        onLoop { connection in
            connection.write(.headers(.init(headers: GRPCHeaders.responseHeaders(metadata))), on: id, flush: false, promise: nil)
        }
    }

    /// One message of a streamed response; returns once the stream took it (HTTP/2 flow control
    /// holds it back while the client does not read), so a slow client slows its producer.
    func write(message: ByteBuffer) async throws {
        try await write(messages: [message])
    }

    /// Several messages of a streamed response in one hop to the event loop and one flush (a
    /// receive's status and its batch of messages); returns once the stream took the last one.
    /// If the stream closes part-way, it throws and the caller cannot tell which ones left.
    func write(messages: [ByteBuffer]) async throws {
        guard let last = messages.last else { return }
        let id = streamID
        let written = eventLoop.makePromise(of: Void.self)
        onLoop { connection in
            for message in messages.dropLast() {
                connection.write(.data(.init(data: .byteBuffer(message))), on: id, flush: false, promise: nil)
            }
            connection.write(.data(.init(data: .byteBuffer(last))), on: id, flush: true, promise: written)
        }
        try await written.futureResult.get()
    }

    /// The trailers that end a streamed response.
    func finishStream(_ code: GRPCStatusCode, _ message: String, trailing: Metadata = [:]) {
        let id = streamID
        let headers = GRPCHeaders.trailers(code, message, metadata: trailing)
        onLoop { connection in
            connection.write(.headers(.init(headers: headers, endStream: true)), on: id, flush: true, promise: nil)
        }
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
