import Foundation

/// The disk's own limits, measured with plain loops on a preallocated file (as the log's
/// segments are), so the benchmark can print ratios instead of machine-dependent absolutes.
enum RawDiskLimits {
    /// `totalBytes` written in 1 MiB `pwrite`s, then one `fdatasync`: MB/s.
    static func sequentialWriteMBps(directory: String, totalBytes: Int) throws -> Double {
        try withPreallocatedFile(directory: directory, size: totalBytes) { fd in
            let chunk = 1 << 20
            let buffer = [UInt8](repeating: 0x61, count: chunk)
            let started = ContinuousClock.now
            var written = 0
            while written < totalBytes {
                let n = min(chunk, totalBytes - written)
                _ = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress!, n, off_t(written)) }
                written += n
            }
            fdatasync(fd)
            return Double(totalBytes) / seconds(since: started) / 1e6
        }
    }

    /// `totalBytes` written as `batchBytes` `pwrite`s each followed by one `fdatasync`: MB/s.
    static func batchedSyncMBps(directory: String, batchBytes: Int, totalBytes: Int) throws -> Double {
        let total = max(totalBytes, batchBytes * 200)
        return try withPreallocatedFile(directory: directory, size: total) { fd in
            let buffer = [UInt8](repeating: 0x61, count: batchBytes)
            let started = ContinuousClock.now
            var written = 0
            let deadline = started + .seconds(5)
            while written + batchBytes <= total && ContinuousClock.now < deadline {
                _ = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress!, batchBytes, off_t(written)) }
                fdatasync(fd)
                written += batchBytes
            }
            return Double(written) / seconds(since: started) / 1e6
        }
    }

    private static func withPreallocatedFile(directory: String, size: Int, _ body: (Int32) -> Double) throws -> Double {
        let path = "\(directory)/raw-limit-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer {
            close(fd)
            unlink(path)
        }
        let rc = posix_fallocate(fd, 0, off_t(size))
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        fdatasync(fd)
        return body(fd)
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
