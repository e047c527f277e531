import NIOCore

/// Sits between the connection's HTTP/2 handler and the socket (or TLS) and turns the flushes of
/// one event-loop turn into one: the first flush schedules a single flush behind the tasks
/// already queued, later ones only mark it needed. Without it every unary response — completed
/// in bursts by the log writer's group commit, outside any read — was its own `writev` (one
/// syscall per response at 256 in flight). NIOHTTP2 coalesces only the flushes made while it
/// reads.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        if flushScheduled { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = loopBound.value
            coalescer.flushScheduled = false
            context.flush()
        }
    }

    /// What was written before a close leaves before it (NIOHTTP2 writes a GOAWAY and closes at
    /// once when a peer breaks the protocol).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushScheduled { context.flush() }
        context.close(mode: mode, promise: promise)
    }
}
