import Foundation

/// Peak resident memory of one case rather than of the whole run: on Linux a process may reset
/// its resident-set high-water mark (`VmHWM`) by writing 5 to `/proc/self/clear_refs` (Linux 4.0+,
/// proc(5)). Where that is not possible, the process-wide `ru_maxrss` is reported instead.
enum CasePeakMemory {
    /// Resets the high-water mark to the current resident set; false where unsupported.
    @discardableResult
    static func reset() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
    }

    /// `VmHWM` in MiB since the last `reset()`, or the process-wide peak where `/proc` is missing.
    static func peakMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return peakResidentMiB() }
        return kibibytes / 1024
    }
}
