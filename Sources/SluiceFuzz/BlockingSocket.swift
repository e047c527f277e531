#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connection to a loopback port, for fuzzers that run on threads of their own
/// (never on the cooperative pool): whole writes, and reads with a deadline.
final class BlockingSocket {
    private(set) var fd: Int32

    /// nil when the port does not accept.
    init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            return nil
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Writes all of `bytes`; false when the peer closed (or the write timed out).
    func write(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            sent += written
        }
        return true
    }

    enum ReadResult {
        case bytes([UInt8])
        /// The peer closed after this many bytes.
        case closed(Int)
        /// Only this many bytes came in time.
        case timedOut(Int)
    }

    /// Exactly `count` bytes, unless the peer closes or `timeout` passes first.
    func read(_ count: Int, timeout: Duration) -> ReadResult {
        let deadline = ContinuousClock.now + timeout
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var buffer = [UInt8](repeating: 0, count: min(max(count, 1), 64 * 1024))
        while result.count < count {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return .timedOut(result.count) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left / .milliseconds(1), 60_000))
            let ready = poll(&poller, 1, max(1, milliseconds))
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            if ready < 0 { return .closed(result.count) }
            let received = recv(fd, &buffer, min(buffer.count, count - result.count), 0)
            if received < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if received <= 0 { return .closed(result.count) }
            result += buffer[0..<received]
        }
        return .bytes(result)
    }
}
