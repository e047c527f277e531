import NIOCore
import SwiftProtobuf

/// A `ByteBuffer` as SwiftProtobuf's bag of bytes, so requests are decoded straight from the
/// frames' buffers and responses encoded straight into the buffer that goes on the wire.
///
/// Buffers made by SwiftProtobuf for encoding keep `GRPCFrame.prefixBytes` free in front of the
/// message, so the length prefix is written in place rather than by copying the message.
struct ProtobufBuffer: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    init(repeating byte: UInt8, count: Int) {
        var buffer = ByteBufferAllocator().buffer(capacity: GRPCFrame.prefixBytes + count)
        buffer.writeRepeatingByte(0, count: GRPCFrame.prefixBytes)
        buffer.moveReaderIndex(forwardBy: GRPCFrame.prefixBytes)
        buffer.writeRepeatingByte(byte, count: count)
        self.buffer = buffer
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        buffer = ByteBuffer(bytes: sequence)
    }

    var count: Int { buffer.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}

extension SwiftProtobuf.Message {
    /// The message as one length-prefixed gRPC frame.
    func grpcFrame() throws -> ByteBuffer {
        var encoded = try serializedBytes() as ProtobufBuffer
        GRPCFrame.writePrefix(into: &encoded.buffer)
        return encoded.buffer
    }

    /// Decodes a message from a frame's payload (the prefix already removed).
    init(grpcPayload: ByteBuffer) throws {
        try self.init(serializedBytes: ProtobufBuffer(grpcPayload))
    }
}
