import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream's call: reads its HEADERS and messages, starts the method's route in one
/// task, and cancels that task when the client resets the stream or the connection goes.
///
/// Not a channel handler: the connection's `GRPCConnectionHandler` reads every stream's frames
/// and hands each to its stream's object, so a call costs no child channel, pipeline or handler
/// context of its own. Everything here runs on the connection's event loop.
final class GRPCStream {
    private enum State {
        case awaitingHeaders
        /// A unary or server-streaming call collecting its one request message.
        case collecting(FrontRoute, GRPCHeaders.Request, message: ByteBuffer?)
        /// A bidirectional call: messages go to its running task until the client half-closes.
        case streaming(AsyncThrowingStream<ByteBuffer, any Error>.Continuation)
        /// The request is complete (or refused); nothing more is read.
        case done
    }

    let id: HTTP2StreamID
    private unowned let connection: GRPCConnectionHandler
    private let shared: FrontShared
    private var state = State.awaitingHeaders
    private var deframer: GRPCDeframer
    private var task: Task<Void, Never>?
    private var cancellation: ServerContext.RPCCancellationHandle?
    /// Bytes of this stream counted against the broker's buffered-request budget.
    private var heldBytes = 0
    /// Bidirectional calls: bytes handed to the call's task and not yet read by it.
    private let queuedBytes = QueuedBytes()

    init(id: HTTP2StreamID, connection: GRPCConnectionHandler, shared: FrontShared) {
        self.id = id
        self.connection = connection
        self.shared = shared
        deframer = GRPCDeframer(maxMessageBytes: shared.maxMessageBytes)
    }

    /// Whether the client may still send on this stream (its window is worth topping up).
    var readsMore: Bool {
        if case .done = state { return false }
        return true
    }

    func received(_ headers: HTTP2Frame.FramePayload.Headers) {
        if case .awaitingHeaders = state { open(headers.headers) }
        if headers.endStream { endOfRequest() }
    }

    func received(_ frame: HTTP2Frame.FramePayload.Data) {
        if case .byteBuffer(let buffer) = frame.data, buffer.readableBytes > 0 { received(buffer) }
        if frame.endStream { endOfRequest() }
    }

    /// The client reset the stream, the stream ended both ways, or the connection closed:
    /// whatever the call was doing is abandoned, as grpc-swift's server does (a cancelled
    /// receive returns its messages).
    func closed() {
        if case .streaming(let continuation) = state { continuation.finish(throwing: CancellationError()) }
        state = .done
        cancellation?.cancel()
        task?.cancel()
        releaseHeldBytes()
    }

    // MARK: request

    private func open(_ headers: HPACKHeaders) {
        let request: GRPCHeaders.Request
        do {
            request = try GRPCHeaders.request(headers)
        } catch {
            refuse(error.code, error.message)
            return
        }
        guard let route = shared.routes[request.path] else {
            refuse(.unimplemented, "method \(request.path) is not served by this broker")
            return
        }
        switch route.kind {
        case .unary, .serverStreaming:
            state = .collecting(route, request, message: nil)
        case .bidirectional:
            let (requests, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream(
                bufferingPolicy: .bufferingOldest(FrontShared.maxQueuedStreamMessages))
            state = .streaming(continuation)
            start(route, request, message: nil, requests: requests)
        }
    }

    private func received(_ buffer: ByteBuffer) {
        switch state {
        case .collecting, .streaming: break
        case .awaitingHeaders, .done: return
        }
        guard shared.buffered.reserve(buffer.readableBytes) else {
            refuse(.resourceExhausted, "the broker holds \(shared.buffered.limit) bytes of partly received requests; retry shortly")
            return
        }
        heldBytes += buffer.readableBytes
        deframer.append(buffer)
        do {
            while let message = try deframer.next() {
                switch state {
                case .collecting(let route, let request, message: nil):
                    state = .collecting(route, request, message: message)
                case .collecting:
                    refuse(.invalidArgument, "a unary call carries exactly one request message")
                    return
                case .streaming(let continuation):
                    releaseHeldBytes(keeping: deframer.bufferedBytes)
                    // Bytes yielded and not yet read by the call stay bounded too: past one
                    // largest message waiting, the client is sending faster than the broker reads.
                    let waiting = queuedBytes.add(message.readableBytes)
                    if waiting > message.readableBytes, waiting > shared.maxMessageBytes {
                        refuse(
                            .resourceExhausted,
                            "\(waiting) bytes of messages are waiting unread on this stream; the limit is \(shared.maxMessageBytes)")
                        return
                    }
                    if case .dropped = continuation.yield(message) {
                        refuse(.resourceExhausted, "more than \(FrontShared.maxQueuedStreamMessages) messages are waiting on this stream")
                        return
                    }
                case .awaitingHeaders, .done:
                    return
                }
            }
        } catch {
            refuse(error.code, error.message)
        }
    }

    private func endOfRequest() {
        switch state {
        case .collecting(let route, let request, let message):
            state = .done
            guard deframer.bufferedBytes == 0 else {
                refuse(.internalError, "the request ended inside a message (\(deframer.bufferedBytes) bytes left)")
                return
            }
            guard let message else {
                refuse(.unimplemented, "a unary call carries exactly one request message; got none")
                return
            }
            start(route, request, message: message, requests: nil)
        case .streaming(let continuation):
            state = .done
            continuation.finish()
        case .awaitingHeaders, .done:
            break
        }
    }

    // MARK: call

    private func start(
        _ route: FrontRoute, _ request: GRPCHeaders.Request, message: ByteBuffer?,
        requests: AsyncThrowingStream<ByteBuffer, any Error>?
    ) {
        let cancellation = ServerContext.RPCCancellationHandle()
        self.cancellation = cancellation
        let call = FrontCall(
            metadata: request.metadata,
            context: ServerContext(
                descriptor: route.descriptor, remotePeer: connection.remotePeer, localPeer: connection.localPeer,
                cancellation: cancellation),
            request: message, requests: requests, consumed: queuedBytes, responder: connection.responder(for: id))
        let shared = self.shared
        if route.kind == .unary {
            shared.calls.unaryStarted()
            task = Task(executorPreference: connection.taskExecutor) {
                await route.run(call)
                shared.calls.unaryFinished()
            }
        } else {
            let id = shared.calls.streamingStarted()
            let task = Task(executorPreference: connection.taskExecutor) {
                await route.run(call)
                shared.calls.streamingFinished(id)
            }
            shared.calls.attach(task, to: id)
            self.task = task
        }
    }

    /// Answers with trailers only and stops reading the stream.
    private func refuse(_ code: GRPCStatusCode, _ message: String) {
        let wasStreaming: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
        if case .streaming(let continuation) = state { wasStreaming = continuation } else { wasStreaming = nil }
        state = .done
        releaseHeldBytes()
        if let wasStreaming {
            // The call's task is running: it ends the stream when its requests fail.
            wasStreaming.finish(throwing: RPCError(code: RPCError.Code(code) ?? .internalError, message: message))
            return
        }
        connection.write(
            .headers(.init(headers: GRPCHeaders.trailersOnly(code, message), endStream: true)), on: id, flush: true, promise: nil)
    }

    private func releaseHeldBytes(keeping kept: Int = 0) {
        guard heldBytes > kept else { return }
        shared.buffered.release(heldBytes - kept)
        heldBytes = kept
    }
}
