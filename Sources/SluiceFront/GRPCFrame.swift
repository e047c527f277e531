import GRPCCore
import NIOCore

/// gRPC's message framing on HTTP/2 DATA frames: a compressed flag (1 byte), the length
/// (4 bytes, big-endian), then the message.
enum GRPCFrame {
    static let prefixBytes = 5

    /// Writes the prefix into the `prefixBytes` in front of `buffer`'s readable bytes (as
    /// `ProtobufBuffer` leaves them) and makes the prefix readable; prepends it otherwise.
    static func writePrefix(into buffer: inout ByteBuffer) {
        let length = UInt32(truncatingIfNeeded: buffer.readableBytes)
        if buffer.readerIndex >= prefixBytes {
            let start = buffer.readerIndex - prefixBytes
            buffer.setInteger(UInt8(0), at: start)
            buffer.setInteger(length, at: start + 1)
            buffer.moveReaderIndex(to: start)
        } else {
            var framed = ByteBufferAllocator().buffer(capacity: prefixBytes + buffer.readableBytes)
            framed.writeInteger(UInt8(0))
            framed.writeInteger(length)
            framed.writeImmutableBuffer(buffer)
            buffer = framed
        }
    }
}

/// Why a stream's bytes cannot be read as gRPC messages; each becomes a gRPC status.
struct FramingError: Error, Equatable {
    var code: GRPCStatusCode
    var message: String
}

/// Splits a stream's DATA bytes into messages, holding at most one partial message.
///
/// The declared length is checked before any of the message is buffered, so a client cannot
/// make a stream hold more than `maxMessageBytes` plus one frame.
struct GRPCDeframer {
    let maxMessageBytes: Int
    private var pending: ByteBuffer?

    init(maxMessageBytes: Int) { self.maxMessageBytes = maxMessageBytes }

    /// Bytes received and not yet returned as a message.
    var bufferedBytes: Int { pending?.readableBytes ?? 0 }

    mutating func append(_ data: ByteBuffer) {
        if pending == nil || pending!.readableBytes == 0 {
            pending = data
        } else {
            pending!.writeImmutableBuffer(data)
        }
    }

    /// The next whole message, nil while it is incomplete.
    mutating func next() throws(FramingError) -> ByteBuffer? {
        guard var buffer = pending, buffer.readableBytes >= GRPCFrame.prefixBytes else { return nil }
        let start = buffer.readerIndex
        let flag = buffer.getInteger(at: start, as: UInt8.self)!
        let length = buffer.getInteger(at: start + 1, as: UInt32.self)!
        guard flag == 0 else {
            throw flag == 1
                ? FramingError(code: .unimplemented, message: "compressed messages are not supported; send them uncompressed")
                : FramingError(code: .internalError, message: "invalid gRPC frame: compressed flag \(flag)")
        }
        guard length <= maxMessageBytes else {
            throw FramingError(
                code: .resourceExhausted,
                message: "the request message is \(length) bytes; the limit is \(maxMessageBytes) bytes")
        }
        let total = GRPCFrame.prefixBytes + Int(length)
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: GRPCFrame.prefixBytes)
        let message = buffer.readSlice(length: Int(length))!
        pending = buffer.readableBytes == 0 ? nil : buffer
        return message
    }
}
