import Foundation
import SluiceTesting
import Testing

/// grpc-go pings the server each round trip while data flows (its bandwidth estimator). The
/// broker's HTTP/2 flood guard must let that through: a GOAWAY here made grpc-go retry calls the
/// broker had already stored (issue 12's duplicates).
@Suite("HTTP/2 control frames from a busy client")
struct HTTP2ControlFrameTests {
    @Test("2,000 PINGs on one connection are all acknowledged and the connection stays open")
    func pingsLikeGrpcGo() async throws {
        try await withBroker { broker in
            var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            bytes += Self.frame(type: 0x4, flags: 0, stream: 0, payload: [])  // SETTINGS
            for index in 0..<2_000 {
                bytes += Self.frame(type: 0x6, flags: 0, stream: 0, payload: Self.opaque(UInt64(index)))
            }
            let frames = try Self.exchange(port: broker.grpcPort, bytes: bytes, expectingPingAcks: 2_000)
            let goAways = frames.filter { $0.type == 0x7 }
            #expect(goAways.isEmpty, "GOAWAY error codes: \(goAways.map { $0.payload.count >= 8 ? $0.payload[7] : 0 })")
            #expect(frames.filter { $0.type == 0x6 && $0.flags & 0x1 != 0 }.count == 2_000)
        }
    }

    struct Frame {
        var type: UInt8
        var flags: UInt8
        var payload: [UInt8]
    }

    static func opaque(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(value >> (56 - 8 * UInt64($0)) & 0xFF) } }

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + [UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)]
            + payload
    }

    /// Writes `bytes` on a fresh connection and reads frames until the expected PING ACKs arrived,
    /// the server closed, or 30 s passed without a byte (CI runs this beside the fuzzer on two cores).
    static func exchange(port: Int, bytes: [UInt8], expectingPingAcks: Int) throws -> [Frame] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }
            sent += written
        }
        var received: [UInt8] = []
        var frames: [Frame] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var position = 0
        while frames.filter({ $0.type == 0x6 && $0.flags & 0x1 != 0 }).count < expectingPingAcks {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
            while received.count - position >= 9 {
                let length = Int(received[position]) << 16 | Int(received[position + 1]) << 8 | Int(received[position + 2])
                guard received.count - position >= 9 + length else { break }
                frames.append(Frame(
                    type: received[position + 3], flags: received[position + 4],
                    payload: Array(received[(position + 9)..<(position + 9 + length)])))
                position += 9 + length
            }
        }
        return frames
    }
}
