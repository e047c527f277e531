import Foundation
import Synchronization

/// Picks a free TCP port on 127.0.0.1 for a broker a test is about to start.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`), never from port 0:
/// a port the kernel handed out for `bind(0)` goes back into the pool the moment we close it, and a
/// parallel test's outbound connection (the fuzz suite opens thousands) can take it before the
/// broker binds it — a flaky "address already in use". Below the range only explicit binds compete,
/// and a process-wide cursor keeps two tests of one run from getting the same port.
public enum FreePort {
    public static func next() throws -> Int {
        let range = candidateRange
        for _ in 0..<range.count {
            let port = cursor.withLock { next -> Int in
                let chosen = next
                next = next + 1 >= range.upperBound ? range.lowerBound : next + 1
                return chosen
            }
            if isFree(port) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// Ports outside the ephemeral range: below it when there is room, otherwise above it.
    static let candidateRange: Range<Int> = {
        let (low, high) = ephemeralRange()
        if low - 10_000 >= 2_000 { return 10_000..<low }
        return min(high + 1, 65_000)..<65_536
    }()

    /// Each process starts at a different place so concurrent test processes rarely probe the same ports.
    private static let cursor: Mutex<Int> = {
        let range = candidateRange
        let start = range.lowerBound + Int(UInt32(truncatingIfNeeded: getpid()) &* 2_654_435_761 % UInt32(range.count))
        return Mutex(start)
    }()

    private static func ephemeralRange() -> (Int, Int) {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else {
            return (32_768, 60_999)
        }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1] else { return (32_768, 60_999) }
        return (numbers[0], numbers[1])
    }

    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }
}
