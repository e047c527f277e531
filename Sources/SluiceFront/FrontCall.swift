import GRPCCore
import NIOCore

/// One call as a route sees it: its metadata, the request messages as they arrive, and where the
/// response goes. Built by `GRPCStream`; the route decodes and encodes the messages.
struct FrontCall: Sendable {
    var metadata: Metadata
    var context: ServerContext
    /// Unary and server-streaming calls: the one request message. Nil for bidirectional calls.
    var request: ByteBuffer?
    /// Bidirectional calls: the request messages, in order, ending when the client half-closes.
    var requests: AsyncThrowingStream<ByteBuffer, any Error>?
    /// Told of each request message of `requests` as the call reads it.
    var consumed: QueuedBytes
    var responder: FrontResponder
}

/// How a call's method handles its stream.
enum FrontMethodKind: Sendable {
    /// One request message, one response message.
    case unary
    /// One request message, a stream of responses.
    case serverStreaming
    /// A stream each way.
    case bidirectional
}

/// One method of the served service: its kind and the code that runs a call of it.
struct FrontRoute: Sendable {
    var descriptor: MethodDescriptor
    var kind: FrontMethodKind
    var run: @Sendable (FrontCall) async -> Void
}
