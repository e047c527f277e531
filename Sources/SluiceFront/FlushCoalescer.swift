import NIOCore
import NIOHTTP2

/// Sits between the connection's HTTP/2 handler and the socket (or TLS) and turns the flushes of
/// one event-loop turn into one: the first flush schedules a single flush behind the tasks
/// already queued, later ones only mark it needed. Without it every unary response — completed
/// in bursts by the log writer's group commit, outside any read — was its own `writev` (one
/// syscall per response at 256 in flight). NIOHTTP2 coalesces only the flushes made while it
/// reads.
///
/// It also holds back a flush that would carry nothing but PING acknowledgements. grpc-go's
/// BDP estimator sends a PING whenever data arrives with none outstanding, so at 1 in flight
/// nearly every request comes with one; NIOHTTP2 answers it at the end of the read, and that
/// flush was a 17-byte `write` of its own, a millisecond before the call's response (the log's
/// group commit lies between). Held, the acknowledgement leaves in the response's `writev`. The
/// hold is bounded by `pingAckHold`: a client waiting on a PING alone (a keepalive on an idle
/// connection, a call that takes long) gets its answer that much later at most, far inside any
/// client's PING timeout (grpc-go's keepalive default is 20 s); BDP estimators then see a longer
/// round trip, which only ever enlarges the windows they offer. Inbound PINGs are still counted
/// by NIOHTTP2's control-frame flood guard, which this does not touch.
///
/// Which writes are PING acknowledgements it learns from NIOHTTP2 itself, as the handler's
/// `NIOHTTP2FrameDelegate`: the delegate hears of each frame just before its bytes are written
/// down the pipeline, and a PING frame is always one write.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler, NIOHTTP2FrameDelegate {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest a PING acknowledgement waits for a response to ride with.
    static let pingAckHold = TimeAmount.milliseconds(10)
    /// Up to this many open calls on the connection, PING acknowledgements are held. With more,
    /// responses are flushed every loop turn anyway and a separate acknowledgement write is rare
    /// (strace at 256 in flight: 63 a second beside 5,000 responses), so holding saves nothing
    /// measurable there (A/B rounds at 256 in flight disagreed in sign, docs/benchmarks.md) and
    /// the acknowledgement goes out at once, as RFC 9113 § 6.7 prefers.
    static let callsHoldingPingAcks = 32

    /// Set by the connection's handler as calls open and close (see `callsHoldingPingAcks`).
    var holdsPingAcks = true

    private var flushScheduled = false
    /// The next write is a PING acknowledgement (set by `wroteFrame`, consumed by `write`).
    private var nextWriteIsPingAck = false
    /// Written since the last flush, by kind: what a flush request would carry.
    private var unflushedPingAcks = false
    private var unflushedOther = false
    /// A flush of PING acknowledgements alone was asked for and is being held.
    private var holdingPingAcks = false
    private var holdTimerArmed = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // NIOHTTP2FrameDelegate: called by NIOHTTP2Handler on the loop, right before the frame's write.
    func wroteFrame(_ frame: HTTP2Frame) {
        if case .ping(_, ack: true) = frame.payload { nextWriteIsPingAck = true }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if nextWriteIsPingAck {
            nextWriteIsPingAck = false
            unflushedPingAcks = true
        } else {
            unflushedOther = true
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if unflushedPingAcks && !unflushedOther && holdsPingAcks {
            // Only acknowledgements so far: wait for a response to carry them, or the timer.
            holdingPingAcks = true
            armHoldTimer(context: context)
            return
        }
        scheduleFlush(context: context)
    }

    private func scheduleFlush(context: ChannelHandlerContext) {
        if flushScheduled { return }
        flushScheduled = true
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute {
            self.flushScheduled = false
            self.flushNow()
        }
    }

    private func flushNow() {
        guard let context else { return }
        unflushedPingAcks = false
        unflushedOther = false
        holdingPingAcks = false
        context.flush()
    }

    /// One timer at a time per connection: under steady load the acknowledgements leave with
    /// responses and the timer, when it fires, finds nothing held (or one, which then leaves);
    /// re-arming per PING would cost a `timerfd_settime` per PING, as much as the write saved.
    private func armHoldTimer(context: ChannelHandlerContext) {
        if holdTimerArmed { return }
        holdTimerArmed = true
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.pingAckHold) {
            self.holdTimerArmed = false
            if self.holdingPingAcks { self.flushNow() }
        }
    }

    /// What was written before a close leaves before it (NIOHTTP2 writes a GOAWAY and closes at
    /// once when a peer breaks the protocol).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushScheduled || holdingPingAcks {
            unflushedPingAcks = false
            unflushedOther = false
            holdingPingAcks = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
