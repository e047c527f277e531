#if canImport(Glibc)
import Glibc
#endif

/// The resident memory of a process, from `/proc/<pid>/status` (`VmRSS`, kB). Read with plain
/// `read(2)`: procfs reports a size of 0, which file-reading helpers take at its word.
public enum ProcessMemory {
    public static func residentKilobytes(pid: Int32) -> Int? {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            // "VmRSS:\t  123456 kB"
            return Int(line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }
}
