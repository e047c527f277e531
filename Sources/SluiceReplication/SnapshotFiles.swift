import Glibc
import NIOCore
import NIOPosix
import SluiceStorage

/// The blocking file work of snapshots (writing, reading, checksumming, moving files), run on
/// NIO's blocking thread pool so it never occupies the cooperative pool.
enum SnapshotFiles {
    static let chunkBytes = 4 << 20

    /// Runs `body` on the blocking pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(ReplicationError) -> T) async throws(ReplicationError) -> T {
        let result: Result<T, ReplicationError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive {
                do throws(ReplicationError) { return .success(try body()) } catch { return .failure(error) }
            }
        } catch {
            throw ReplicationError(.storage, "the blocking thread pool is not running", cause: error)
        }
        return try result.get()
    }

    static func failure(_ call: String, _ path: String, _ code: Int32 = errno) -> ReplicationError {
        ReplicationError(.storage, "\(call) \(path): \(String(cString: strerror(code)))")
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func makeDirectory(_ path: String) throws(ReplicationError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw failure("mkdir", path) }
    }

    /// Removes a file or a folder with everything in it (absent is fine).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func syncDirectory(_ path: String) throws(ReplicationError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw failure("open", path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw failure("fsync", path) }
    }

    static func rename(_ from: String, to: String) throws(ReplicationError) {
        if Glibc.rename(from, to) != 0 { throw failure("rename", "\(from) → \(to)") }
    }

    static func remove(_ path: String) throws(ReplicationError) {
        if unlink(path) != 0 && errno != ENOENT { throw failure("unlink", path) }
    }

    /// Writes `bytes` to `path` durably (temp file, fdatasync, rename, folder fsync).
    static func writeAtomically(_ bytes: [UInt8], to path: String, folder: String) throws(ReplicationError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw failure("open", temporary) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let code = errno
                close(fd)
                throw failure("write", temporary, code)
            }
            written += count
        }
        if fdatasync(fd) != 0 {
            let code = errno
            close(fd)
            throw failure("fdatasync", temporary, code)
        }
        close(fd)
        try rename(temporary, to: path)
        try syncDirectory(folder)
    }

    /// Size and CRC-32C of a whole file.
    static func sizeAndChecksum(_ path: String) throws(ReplicationError) -> (size: UInt64, crc32c: UInt32) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure("open", path) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var size: UInt64 = 0
        var crc: UInt32 = 0
        while true {
            let count = read(fd, buffer.baseAddress, chunkBytes)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure("read", path) }
            if count == 0 { break }
            crc = sluiceCRC32C(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), continuing: crc)
            size += UInt64(count)
        }
        return (size, crc)
    }

    /// Up to `count` bytes of `path` from `offset` (fewer only at its end).
    static func readChunk(_ path: String, offset: UInt64, count: Int) throws(ReplicationError) -> ByteBuffer {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure("open", path) }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var total = 0
        var failed: Int32?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            while total < count {
                let got = pread(fd, target.baseAddress! + total, count - total, off_t(offset) + off_t(total))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failed = errno; break }
                if got == 0 { break }
                total += got
            }
            return total
        }
        if let failed { throw failure("pread", path, failed) }
        return buffer
    }

    /// Appends `bytes` at the end of the open file `fd`.
    static func append(_ bytes: ByteBuffer, to fd: Int32, path: String) throws(ReplicationError) {
        var failed: Int32?
        bytes.withUnsafeReadableBytes { source in
            var written = 0
            while written < source.count {
                let count = write(fd, source.baseAddress! + written, source.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { failed = errno; return }
                written += count
            }
        }
        if let failed { throw failure("write", path, failed) }
    }
}
