import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One MQTT control packet as it came off the wire: the first byte (type and flags) and the rest.
struct RawMQTTPacket: Sendable {
    var typeAndFlags: UInt8
    var body: [UInt8]

    var type: UInt8 { typeAndFlags >> 4 }
    var isPublish: Bool { type == 3 }
    var retain: Bool { typeAndFlags & 1 == 1 }

    /// A PUBLISH's topic name and payload (nil for any other packet).
    var publication: (topic: String, payload: [UInt8])? {
        guard isPublish, body.count >= 2 else { return nil }
        let length = Int(body[0]) << 8 | Int(body[1])
        guard body.count >= 2 + length else { return nil }
        let topic = String(decoding: body[2..<2 + length], as: UTF8.self)
        let qos = (typeAndFlags >> 1) & 3
        let payloadStart = 2 + length + (qos > 0 ? 2 : 0)
        return (topic, Array(body[min(payloadStart, body.count)...]))
    }
}

struct RawMQTTClientError: Error, CustomStringConvertible {
    var description: String
}

/// A minimal MQTT 3.1.1 client for the multi-process tests: it encodes the few packets they send
/// by hand (independently of `SluiceMQTTWire`, whose codec the broker uses), pipelines them on one
/// connection and reads what comes back until the test's condition holds or the time is up.
/// Blocking socket calls on a thread of its own, like `LoopbackHTTP`.
enum RawMQTTClient {
    static func connect(clientId: String, cleanSession: Bool = true) -> [UInt8] {
        var body: [UInt8] = string("MQTT") + [4, cleanSession ? 0x02 : 0x00, 0, 60]
        body += string(clientId)
        return packet(0x10, body)
    }

    static func publish(topic: String, payload: [UInt8], packetId: UInt16, retain: Bool) -> [UInt8] {
        packet(0x32 | (retain ? 1 : 0), string(topic) + [UInt8(packetId >> 8), UInt8(packetId & 0xFF)] + payload)
    }

    /// A QoS 2 PUBLISH; `duplicate` sets the DUP flag of a re-send.
    static func publishExactlyOnce(topic: String, payload: [UInt8], packetId: UInt16, duplicate: Bool = false) -> [UInt8] {
        packet(0x34 | (duplicate ? 0x08 : 0), string(topic) + [UInt8(packetId >> 8), UInt8(packetId & 0xFF)] + payload)
    }

    static func pubrel(packetId: UInt16) -> [UInt8] {
        packet(0x62, [UInt8(packetId >> 8), UInt8(packetId & 0xFF)])
    }

    static func subscribe(filter: String, qos: UInt8, packetId: UInt16) -> [UInt8] {
        packet(0x82, [UInt8(packetId >> 8), UInt8(packetId & 0xFF)] + string(filter) + [qos])
    }

    static let disconnect: [UInt8] = [0xE0, 0x00]

    /// Connects to 127.0.0.1:`port`, sends `packets` in order, then reads packets until `done`
    /// says so for what came (or the connection ends, or `timeoutSeconds` pass); returns them.
    static func exchange(
        port: Int, _ packets: [[UInt8]], timeoutSeconds: Int = 10,
        until done: @escaping @Sendable ([RawMQTTPacket]) -> Bool
    ) async throws -> [RawMQTTPacket] {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    with: Result { try run(port: port, request: packets.flatMap { $0 }, timeoutSeconds: timeoutSeconds, done: done) })
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
    }

    private static func string(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    private static func packet(_ typeAndFlags: UInt8, _ body: [UInt8]) -> [UInt8] {
        var length = body.count
        var encoded: [UInt8] = []
        repeat {
            var byte = UInt8(length % 128)
            length /= 128
            if length > 0 { byte |= 0x80 }
            encoded.append(byte)
        } while length > 0
        return [typeAndFlags] + encoded + body
    }

    private static func run(
        port: Int, request: [UInt8], timeoutSeconds: Int, done: ([RawMQTTPacket]) -> Bool
    ) throws -> [RawMQTTPacket] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RawMQTTClientError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Short receive waits, so the overall deadline is checked between them.
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            throw RawMQTTClientError(description: "connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw RawMQTTClientError(description: "send: \(String(cString: strerror(errno)))") }
            sent += count
        }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        var bytes: [UInt8] = []
        var received: [RawMQTTPacket] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !done(received), Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count > 0 {
                bytes.append(contentsOf: buffer[0..<count])
                while let (packet, used) = parse(bytes) {
                    received.append(packet)
                    bytes.removeFirst(used)
                }
            }
        }
        return received
    }

    /// The first complete packet in `bytes` and how many bytes it took (nil: not complete yet).
    private static func parse(_ bytes: [UInt8]) -> (RawMQTTPacket, Int)? {
        guard bytes.count >= 2 else { return nil }
        var length = 0
        var multiplier = 1
        var index = 1
        while true {
            guard index < bytes.count, index <= 4 else { return nil }
            length += Int(bytes[index] & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if bytes[index - 1] & 0x80 == 0 { break }
        }
        guard bytes.count >= index + length else { return nil }
        return (RawMQTTPacket(typeAndFlags: bytes[0], body: Array(bytes[index..<index + length])), index + length)
    }
}
