import GRPCCore
import NIOCore
import NIOHTTP2

/// Reads every stream of one HTTP/2 connection and keeps each call's state in a `GRPCStream`.
///
/// It sits right after swift-nio-http2's `NIOHTTP2Handler` in its frame mode (no stream
/// multiplexer): the connection's state machine still checks every frame, enforces the stream
/// limit, resets streams on stream errors and holds back DATA the peer has no window for; what
/// this handler adds is what the multiplexer did for us — routing frames to streams, topping up
/// the peer's flow-control windows, and noticing when a stream closes — without a child channel,
/// pipeline and handler context per call, which measured as a large part of a small call's cost.
///
/// Loop-confined: every method runs on the connection's event loop; `FrontResponder` hops there.
final class GRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let shared: FrontShared
    /// The flow-control window each stream and the connection are kept near.
    private let windowTarget: Int
    /// Open streams: bounded by the connection's SETTINGS_MAX_CONCURRENT_STREAMS, which
    /// swift-nio-http2 enforces before a stream's first frame reaches here.
    private var streams: [HTTP2StreamID: GRPCStream] = [:]
    private var context: ChannelHandlerContext?
    /// The connection's event loop, for the responders of its calls.
    private var eventLoop: (any EventLoop)?
    private var loopExecutor: ConnectionTaskExecutor?
    private(set) var remotePeer = "unknown"
    private(set) var localPeer = "unknown"
    /// Told how many calls the connection carries: it holds PING acknowledgements back only
    /// while they are few (see `FlushCoalescer.holdsPingAcks`).
    private let flushCoalescer: FlushCoalescer?

    init(shared: FrontShared, windowTarget: Int, flushCoalescer: FlushCoalescer? = nil) {
        self.shared = shared
        self.windowTarget = windowTarget
        self.flushCoalescer = flushCoalescer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        loopExecutor = ConnectionTaskExecutor(eventLoop: context.eventLoop)
        remotePeer = shared.peer(context.channel.remoteAddress)
        localPeer = shared.peer(context.channel.localAddress)
    }

    /// Where a new call's task runs: this connection's event loop (see `ConnectionTaskExecutor`).
    var taskExecutor: ConnectionTaskExecutor? { loopExecutor }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeAllStreams()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if let stream = streams[frame.streamID] {
                stream.received(headers)
            } else {
                let stream = GRPCStream(id: frame.streamID, connection: self, shared: shared)
                streams[frame.streamID] = stream
                streamCountChanged()
                stream.received(headers)
            }
        case .data(let data):
            streams[frame.streamID]?.received(data)
        case .rstStream:
            closeStream(frame.streamID)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Casts from `Any` are not free and a call brings four or five events: the most
        // frequent first (a window change per DATA frame), and stream creation dropped here
        // rather than passed down a pipeline with nothing to do with it.
        if let window = event as? NIOHTTP2WindowUpdatedEvent {
            windowChanged(window)
        } else if let closed = event as? StreamClosedEvent {
            closeStream(closed.streamID)
        } else if event is NIOHTTP2StreamCreatedEvent {
            return
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream error ends one stream (swift-nio-http2 has reset it); only connection errors
        // go on to close the connection.
        if let streamError = error as? NIOHTTP2Errors.StreamError {
            closeStream(streamError.streamID)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAllStreams()
        context.fireChannelInactive()
    }

    // MARK: writing

    /// A responder for a stream of this connection, usable from any task.
    func responder(for streamID: HTTP2StreamID) -> FrontResponder {
        FrontResponder(connection: NIOLoopBound(self, eventLoop: eventLoop!), streamID: streamID)
    }

    /// Writes one frame of a stream's response. Fails the promise with `StreamGone` once the
    /// stream is closed or the connection is gone, so a producer writing to a gone client
    /// learns so and stops.
    ///
    /// A write the caller does not flush is flushed anyway while the socket is not writable.
    /// swift-nio-http2 then buffers a HEADERS frame in its control-frame buffer, unflushed; when
    /// the socket drains, it sends the flushed DATA frames of other streams first and a debug
    /// build traps on its assertion that no control frame waits (`ControlFrameBuffer`, found by
    /// the protocol fuzzer: a streamed response's headers wait for its first message). Flushed,
    /// the headers leave in order and nothing waits unflushed; while the socket cannot take
    /// bytes, the flush costs no system call (`FlushCoalescer` defers it).
    func write(_ payload: HTTP2Frame.FramePayload, on streamID: HTTP2StreamID, flush: Bool, promise: EventLoopPromise<Void>?) {
        guard let context, streams[streamID] != nil else {
            promise?.fail(StreamGone())
            return
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: payload)), promise: promise)
        if flush || !context.channel.isWritable { context.flush() }
    }

    // MARK: streams and windows

    private func closeStream(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        streamCountChanged()
        stream.closed()
    }

    private func closeAllStreams() {
        let open = streams.values
        streams = [:]
        streamCountChanged()
        for stream in open { stream.closed() }
    }

    private func streamCountChanged() {
        flushCoalescer?.holdsPingAcks = streams.count <= FlushCoalescer.callsHoldingPingAcks
    }

    private func windowChanged(_ event: NIOHTTP2WindowUpdatedEvent) {
        guard let context, let window = event.inboundWindowSize else { return }
        if event.streamID != .rootStream {
            // A stream that has sent all it will send needs no more window.
            guard let stream = streams[event.streamID], stream.readsMore else { return }
        }
        guard let increment = InboundWindow.increment(window: window, target: windowTarget) else { return }
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: event.streamID, payload: .windowUpdate(windowSizeIncrement: increment))),
            promise: nil)
        context.flush()
    }
}

/// A write to a stream that is closed (the client reset it, or the connection went).
struct StreamGone: Error, CustomStringConvertible {
    var description: String { "the stream is closed" }
}
