import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream: reads the call's HEADERS and messages, starts the method's route in one
/// task, and cancels that task when the client resets the stream or the connection goes.
///
/// Everything here runs on the stream's event loop; the route's task writes its response
/// through `FrontResponder`.
final class GRPCStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case awaitingHeaders
        /// A unary or server-streaming call collecting its one request message.
        case collecting(FrontRoute, GRPCHeaders.Request, message: ByteBuffer?)
        /// A bidirectional call: messages go to its running task until the client half-closes.
        case streaming(AsyncThrowingStream<ByteBuffer, any Error>.Continuation)
        /// The request is complete (or refused); nothing more is read.
        case done
    }

    private let shared: FrontShared
    private var state = State.awaitingHeaders
    private var deframer: GRPCDeframer
    private var task: Task<Void, Never>?
    private var cancellation: ServerContext.RPCCancellationHandle?
    /// Bytes of this stream counted against the broker's buffered-request budget.
    private var heldBytes = 0
    /// Bidirectional calls: bytes handed to the call's task and not yet read by it.
    private let queuedBytes = QueuedBytes()

    init(shared: FrontShared) {
        self.shared = shared
        deframer = GRPCDeframer(maxMessageBytes: shared.maxMessageBytes)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if case .awaitingHeaders = state {
                open(headers.headers, context: context)
            }
            if headers.endStream { endOfRequest(context: context) }
        case .data(let frame):
            if case .byteBuffer(let buffer) = frame.data, buffer.readableBytes > 0 { received(buffer, context: context) }
            if frame.endStream { endOfRequest(context: context) }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client reset the stream or the connection closed: whatever the call was doing is
        // abandoned, as grpc-swift's server does (a cancelled receive returns its messages).
        if case .streaming(let continuation) = state { continuation.finish(throwing: CancellationError()) }
        state = .done
        cancellation?.cancel()
        task?.cancel()
        releaseHeldBytes()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseHeldBytes()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream-level protocol errors: the stream is reset by swift-nio-http2; nothing to add.
        context.close(promise: nil)
    }

    // MARK: request

    private func open(_ headers: HPACKHeaders, context: ChannelHandlerContext) {
        let request: GRPCHeaders.Request
        do {
            request = try GRPCHeaders.request(headers)
        } catch {
            refuse(error.code, error.message, context: context)
            return
        }
        guard let route = shared.routes[request.path] else {
            refuse(.unimplemented, "method \(request.path) is not served by this broker", context: context)
            return
        }
        switch route.kind {
        case .unary, .serverStreaming:
            state = .collecting(route, request, message: nil)
        case .bidirectional:
            let (requests, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream(
                bufferingPolicy: .bufferingOldest(FrontShared.maxQueuedStreamMessages))
            state = .streaming(continuation)
            start(route, request, message: nil, requests: requests, context: context)
        }
    }

    private func received(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        switch state {
        case .collecting, .streaming: break
        case .awaitingHeaders, .done: return
        }
        guard shared.buffered.reserve(buffer.readableBytes) else {
            refuse(
                .resourceExhausted,
                "the broker holds \(shared.buffered.limit) bytes of partly received requests; retry shortly",
                context: context)
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
                    refuse(.invalidArgument, "a unary call carries exactly one request message", context: context)
                    return
                case .streaming(let continuation):
                    releaseHeldBytes(keeping: deframer.bufferedBytes)
                    // Bytes yielded and not yet read by the call stay bounded too: past one
                    // largest message waiting, the client is sending faster than the broker reads.
                    let waiting = queuedBytes.add(message.readableBytes)
                    if waiting > message.readableBytes, waiting > shared.maxMessageBytes {
                        refuse(
                            .resourceExhausted,
                            "\(waiting) bytes of messages are waiting unread on this stream; the limit is \(shared.maxMessageBytes)",
                            context: context)
                        return
                    }
                    if case .dropped = continuation.yield(message) {
                        refuse(
                            .resourceExhausted,
                            "more than \(FrontShared.maxQueuedStreamMessages) messages are waiting on this stream",
                            context: context)
                        return
                    }
                case .awaitingHeaders, .done:
                    return
                }
            }
        } catch {
            refuse(error.code, error.message, context: context)
        }
    }

    private func endOfRequest(context: ChannelHandlerContext) {
        switch state {
        case .collecting(let route, let request, let message):
            state = .done
            guard deframer.bufferedBytes == 0 else {
                refuse(.internalError, "the request ended inside a message (\(deframer.bufferedBytes) bytes left)", context: context)
                return
            }
            guard let message else {
                refuse(.unimplemented, "a unary call carries exactly one request message; got none", context: context)
                return
            }
            start(route, request, message: message, requests: nil, context: context)
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
        requests: AsyncThrowingStream<ByteBuffer, any Error>?, context: ChannelHandlerContext
    ) {
        let cancellation = ServerContext.RPCCancellationHandle()
        self.cancellation = cancellation
        let call = FrontCall(
            metadata: request.metadata,
            context: ServerContext(
                descriptor: route.descriptor, remotePeer: shared.peer(context.channel.parent?.remoteAddress),
                localPeer: shared.peer(context.channel.parent?.localAddress), cancellation: cancellation),
            request: message, requests: requests, consumed: queuedBytes, responder: FrontResponder(channel: context.channel))
        let shared = self.shared
        if route.kind == .unary {
            shared.calls.unaryStarted()
            task = Task {
                await route.run(call)
                shared.calls.unaryFinished()
            }
        } else {
            let id = shared.calls.streamingStarted()
            let task = Task {
                await route.run(call)
                shared.calls.streamingFinished(id)
            }
            shared.calls.attach(task, to: id)
            self.task = task
        }
    }

    /// Answers with trailers only and stops reading the stream.
    private func refuse(_ code: GRPCStatusCode, _ message: String, context: ChannelHandlerContext) {
        let wasStreaming: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
        if case .streaming(let continuation) = state { wasStreaming = continuation } else { wasStreaming = nil }
        state = .done
        releaseHeldBytes()
        if let wasStreaming {
            // The call's task is running: it ends the stream when its requests fail.
            wasStreaming.finish(throwing: RPCError(code: RPCError.Code(code) ?? .internalError, message: message))
            return
        }
        context.writeAndFlush(
            wrapOutboundOut(.headers(.init(headers: GRPCHeaders.trailersOnly(code, message), endStream: true))),
            promise: nil)
    }

    private func releaseHeldBytes(keeping kept: Int = 0) {
        guard heldBytes > kept else { return }
        shared.buffered.release(heldBytes - kept)
        heldBytes = kept
    }
}
