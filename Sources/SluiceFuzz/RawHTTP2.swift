import Foundation
import SluiceTesting

#if canImport(Glibc)
import Glibc
#endif

/// Hostile HTTP/2 below the gRPC library: a raw socket that writes the client preface and then
/// garbage, truncated or oversized frames, or a gRPC length prefix that lies about the message
/// size. The broker must drop the connection (or answer an error), never crash or hang.
///
/// Blocking socket calls with short timeouts, on a thread of their own (never on the
/// cooperative pool).
enum RawHTTP2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let kinds = 9

    /// One attack of kind `kind % kinds`; returns what it was, for the report.
    static func attack(port: Int, kind: Int, seed: UInt64) async -> String {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var random = SplitMix64(seed: seed)
                let (name, bytes) = payload(kind: kind % kinds, port: port, random: &random)
                exchange(port: port, bytes: bytes)
                continuation.resume(returning: name)
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
    }

    static func payload(kind: Int, port: Int, random: inout SplitMix64) -> (String, [UInt8]) {
        func garbage(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        let settings = frame(type: 0x4, flags: 0, stream: 0, payload: [])
        let headers = frame(type: 0x1, flags: 0x4, stream: 1, payload: requestHeaders(port: port, method: "SendMessage"))
        switch kind {
        case 0:
            return ("preface then garbage", preface + garbage(Int(random.next() % 4096)))
        case 1:
            // The gRPC prefix claims 1 MiB; 10 bytes follow, then the stream ends.
            return ("grpc length prefix larger than the data", preface + settings + headers
                + frame(type: 0x0, flags: 0x1, stream: 1, payload: grpcPrefix(1 << 20) + garbage(10)))
        case 2:
            // The gRPC prefix claims 4 GiB - 1 and the connection closes.
            return ("grpc length prefix of 4 GiB", preface + settings + headers
                + frame(type: 0x0, flags: 0, stream: 1, payload: grpcPrefix(UInt32.max) + garbage(100)))
        case 3:
            // A frame header with the largest length HTTP/2 can express, and a few bytes of it.
            return ("oversized frame length", preface + settings + [0xFF, 0xFF, 0xFF, 0x0, 0x0, 0, 0, 0, 1] + garbage(64))
        case 4:
            // A frame that says 100 bytes and stops after 10.
            return ("truncated frame", preface + settings + [0, 0, 100, 0x1, 0x4, 0, 0, 0, 1] + garbage(10))
        case 5:
            return ("HTTP/1.1 and binary instead of HTTP/2", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + garbage(256))
        case 6:
            // Two hundred streams opened and abandoned.
            var bytes = preface + settings
            for stream in stride(from: UInt32(1), through: 399, by: 2) {
                bytes += frame(type: 0x1, flags: 0x4, stream: stream, payload: requestHeaders(port: port, method: "ReceiveMessage"))
            }
            return ("many streams opened and abandoned", bytes)
        case 7:
            // A gRPC message whose prefix claims fewer bytes than the data frame carries, then a
            // second message that is garbage protobuf.
            let body = garbage(200)
            return ("grpc length prefix smaller than the data", preface + settings + headers
                + frame(type: 0x0, flags: 0x1, stream: 1, payload: grpcPrefix(5) + body))
        default:
            // Random frame types, flags and stream ids.
            var bytes = preface
            for _ in 0..<(1 + Int(random.next() % 20)) {
                let length = Int(random.next() % 64)
                bytes += frame(
                    type: UInt8(truncatingIfNeeded: random.next() % 12), flags: UInt8(truncatingIfNeeded: random.next()),
                    stream: UInt32(truncatingIfNeeded: random.next()) & 0x7FFF_FFFF, payload: garbage(length))
            }
            return ("random frames", bytes)
        }
    }

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + [UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)]
            + payload
    }

    static func grpcPrefix(_ length: UInt32) -> [UInt8] {
        [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    }

    /// HPACK literal header fields without indexing and without Huffman coding (RFC 7541 §6.2.2).
    static func requestHeaders(port: Int, method: String) -> [UInt8] {
        let fields = [
            (":method", "POST"), (":scheme", "http"), (":path", "/apache.rocketmq.v2.MessagingService/\(method)"),
            (":authority", "127.0.0.1:\(port)"), ("content-type", "application/grpc"), ("te", "trailers"),
            ("x-mq-client-id", "raw-http2"),
        ]
        var bytes: [UInt8] = []
        for (name, value) in fields {
            bytes.append(0x00)
            bytes += hpackLength(name.utf8.count) + Array(name.utf8)
            bytes += hpackLength(value.utf8.count) + Array(value.utf8)
        }
        return bytes
    }

    /// An HPACK integer with a 7-bit prefix (the string-length form, Huffman bit clear).
    static func hpackLength(_ value: Int) -> [UInt8] {
        if value < 127 { return [UInt8(value)] }
        var bytes: [UInt8] = [127]
        var rest = value - 127
        while rest >= 128 {
            bytes.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        bytes.append(UInt8(rest))
        return bytes
    }

    /// Connects, writes `bytes`, reads whatever comes back (300 ms without a byte ends it), and
    /// closes.
    static func exchange(port: Int, bytes: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            sent += written
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < 64 * 1024 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            total += count
        }
    }
}
