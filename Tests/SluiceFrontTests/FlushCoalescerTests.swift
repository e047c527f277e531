import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import SluiceFront

/// The coalescer's PING-acknowledgement hold, on an embedded channel whose clock only moves when
/// the test moves it (no timing in these tests).
@Suite("Flush coalescing: PING acknowledgements ride with the next response")
struct FlushCoalescerTests {
    private let pingAck = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 7), ack: true))

    private func setUp() throws -> (EmbeddedChannel, FlushCoalescer) {
        let coalescer = FlushCoalescer()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(coalescer)
        return (channel, coalescer)
    }

    /// What NIOHTTP2Handler does for a PING ACK: tells its delegate, then writes the frame's bytes.
    private func writeAck(_ channel: EmbeddedChannel, _ coalescer: FlushCoalescer, byte: UInt8) {
        coalescer.wroteFrame(pingAck)
        channel.write(ByteBuffer(bytes: [byte]), promise: nil)
    }

    private func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
        return bytes
    }

    @Test("a flush of acknowledgements alone waits for the next response and leaves with it")
    func heldUntilResponse() throws {
        let (channel, coalescer) = try setUp()
        writeAck(channel, coalescer, byte: 1)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(try written(channel).isEmpty)

        coalescer.wroteFrame(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(ByteBuffer())))))
        channel.write(ByteBuffer(bytes: [2]), promise: nil)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [1, 2])
    }

    @Test("with no response coming, the hold timer sends the acknowledgement")
    func releasedByTimer() throws {
        let (channel, coalescer) = try setUp()
        writeAck(channel, coalescer, byte: 1)
        channel.flush()
        channel.embeddedEventLoop.advanceTime(by: FlushCoalescer.pingAckHold - .milliseconds(1))
        #expect(try written(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(try written(channel) == [1])

        // The timer re-arms for the next held acknowledgement.
        writeAck(channel, coalescer, byte: 3)
        channel.flush()
        channel.embeddedEventLoop.advanceTime(by: FlushCoalescer.pingAckHold)
        #expect(try written(channel) == [3])
    }

    @Test("with many calls open, acknowledgements are flushed at once")
    func notHeldWhenBusy() throws {
        let (channel, coalescer) = try setUp()
        coalescer.holdsPingAcks = false
        writeAck(channel, coalescer, byte: 1)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [1])
    }

    @Test("a close sends what is held first")
    func closeFlushesHeld() throws {
        let (channel, coalescer) = try setUp()
        writeAck(channel, coalescer, byte: 1)
        channel.flush()
        #expect(try written(channel).isEmpty)
        _ = try? channel.close().wait()
        #expect(try written(channel) == [1])
    }
}
