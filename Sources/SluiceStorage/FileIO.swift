import CSluiceShims

#if canImport(Glibc)
import Glibc
#endif

/// Thin, throwing wrappers over the POSIX file calls the store (and replication's snapshots) use. Every function here blocks:
/// call them only from the log's own threads (writer, maintenance) or at open/recovery, never from
/// the Swift cooperative pool on a hot path.
public enum FileIO {
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(SystemCallError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw SystemCallError(call: "open", path: path, errno: errno) }
        return fd
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Reserves `length` bytes of disk so later writes cannot fail for space and the file's size
    /// never changes on write (an overwrite sync costs about half of an append sync).
    public static func preallocate(_ fd: Int32, length: Int, path: String) throws(SystemCallError) {
        let rc = posix_fallocate(fd, 0, off_t(length))
        if rc != 0 { throw SystemCallError(call: "posix_fallocate", path: path, errno: rc) }
    }

    public static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String)
        throws(SystemCallError)
    {
        var done = 0
        while done < bytes.count {
            let n = Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "pwrite", path: path, errno: errno)
            }
            done += n
        }
    }

    /// Writes the iovecs in order starting at `offset`, resuming after short writes.
    public static func pwritevAll(_ fd: Int32, _ vectors: inout [iovec], at offset: Int, path: String)
        throws(SystemCallError)
    {
        var position = offset
        var first = 0
        let maxVectors = 1024
        while first < vectors.count {
            let count = min(maxVectors, vectors.count - first)
            let n = vectors.withUnsafeBufferPointer { buffer in
                Glibc.pwritev(fd, buffer.baseAddress! + first, Int32(count), off_t(position))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "pwritev", path: path, errno: errno)
            }
            position += n
            var remaining = n
            while remaining > 0, first < vectors.count {
                let length = vectors[first].iov_len
                if remaining >= length {
                    remaining -= length
                    first += 1
                } else {
                    vectors[first].iov_base = vectors[first].iov_base! + remaining
                    vectors[first].iov_len = length - remaining
                    remaining = 0
                }
            }
        }
    }

    public static func preadAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String)
        throws(SystemCallError) -> Int
    {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "pread", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public static func fdatasync(_ fd: Int32, path: String) throws(SystemCallError) {
        if Glibc.fdatasync(fd) != 0 { throw SystemCallError(call: "fdatasync", path: path, errno: errno) }
    }

    /// Makes a rename or unlink in `directory` durable.
    public static func syncDirectory(_ directory: String) throws(SystemCallError) {
        let fd = try open(directory, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        if Glibc.fsync(fd) != 0 { throw SystemCallError(call: "fsync", path: directory, errno: errno) }
    }

    /// Zeroes `[offset, offset+length)` keeping the allocation: `FALLOC_FL_ZERO_RANGE` where the file
    /// system has it (a metadata operation on ext4/xfs), else punch a hole and allocate it again,
    /// else write zeros.
    public static func zeroRange(_ fd: Int32, offset: Int, length: Int, path: String) throws(SystemCallError) {
        guard length > 0 else { return }
        let zeroRangeFlag: Int32 = 0x10  // FALLOC_FL_ZERO_RANGE
        let punchHole: Int32 = 0x02 | 0x01  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        if sluice_fallocate(fd, zeroRangeFlag, Int64(offset), Int64(length)) == 0 { return }
        if sluice_fallocate(fd, punchHole, Int64(offset), Int64(length)) == 0 {
            let rc = posix_fallocate(fd, off_t(offset), off_t(length))
            if rc != 0 { throw SystemCallError(call: "posix_fallocate", path: path, errno: rc) }
            return
        }
        let chunkSize = 1 << 16
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        chunk.initializeMemory(as: UInt8.self, repeating: 0)
        var position = offset
        while position < offset + length {
            let n = min(chunkSize, offset + length - position)
            try pwriteAll(fd, UnsafeRawBufferPointer(rebasing: chunk[0..<n]), at: position, path: path)
            position += n
        }
    }

    public static func fileSize(_ fd: Int32, path: String) throws(SystemCallError) -> Int {
        var info = stat()
        if fstat(fd, &info) != 0 { throw SystemCallError(call: "fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    public static func modificationTimeSeconds(_ path: String) -> Int64? {
        var info = stat()
        if stat(path, &info) != 0 { return nil }
        return Int64(info.st_mtim.tv_sec)
    }

    /// Creates `path` and any missing parents, and makes each new entry durable by syncing the
    /// folder that holds it: a folder is on disk only once its parent is synced (POSIX; btrfs
    /// and others really lose it otherwise), and index files inside a lost folder would be lost
    /// with it while the checkpoint still vouched for them.
    public static func makeDirectory(_ path: String) throws(SystemCallError) {
        var parent = path.hasPrefix("/") ? "/" : "."
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 {
                try syncDirectory(parent)
            } else if errno != EEXIST {
                throw SystemCallError(call: "mkdir", path: current, errno: errno)
            }
            parent = current
        }
    }

    public static func listDirectory(_ path: String) -> [String] {
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

    /// `rename(2)`: atomic within one file system; sync the folder to make it durable.
    public static func rename(_ from: String, to: String) throws(SystemCallError) {
        if Glibc.rename(from, to) != 0 { throw SystemCallError(call: "rename", path: from, errno: errno) }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func remove(_ path: String) throws(SystemCallError) {
        if unlink(path) != 0 && errno != ENOENT { throw SystemCallError(call: "unlink", path: path, errno: errno) }
    }

    public static func removeTree(_ path: String) {
        if isDirectory(path) {
            for name in listDirectory(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Writes `bytes` to `path` atomically: temp file, fdatasync, rename, directory fsync.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SystemCallError) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 8)
        defer { copy.deallocate() }
        copy.copyBytes(from: bytes)
        do throws(SystemCallError) {
            try pwriteAll(fd, UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]), at: 0, path: temporary)
            try fdatasync(fd, path: temporary)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        if Glibc.rename(temporary, path) != 0 { throw SystemCallError(call: "rename", path: path, errno: errno) }
        let slash = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try syncDirectory(slash.isEmpty ? "/" : slash)
    }

    /// The file's bytes, or nil when it cannot be opened or read, or is larger than `limit`
    /// (checked before anything is read, so a wrong path to a huge file costs no memory).
    public static func readWholeFile(_ path: String, limit: Int = .max) -> [UInt8]? {
        guard let fd = try? open(path, flags: O_RDONLY) else { return nil }
        defer { close(fd) }
        guard let size = try? fileSize(fd, path: path), size <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = bytes.withUnsafeMutableBytes { (try? preadAll(fd, into: $0, at: 0, path: path)) ?? -1 }
        return read == size ? bytes : nil
    }
}
