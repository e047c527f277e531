import Foundation

/// The resident memory of a process, from `/proc/<pid>/status` (`VmRSS`, kB).
public enum ProcessMemory {
    public static func residentKilobytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst("VmRSS:".count).split(separator: " ").first ?? "")
        }
        return nil
    }
}
