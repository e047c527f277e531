#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<data>/LOCK`, so two brokers never open one data folder. The kernel
/// drops the lock when the process dies, so a `kill -9` never leaves a stale lock behind.
final class DataDirectoryLock: Sendable {
    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// - Throws: `.dataDirectoryLocked` naming the holder's pid when another process has it.
    static func acquire(_ directory: String) throws(StorageError) -> DataDirectoryLock {
        let path = directory + "/LOCK"
        let fd: Int32
        do throws(SystemCallError) {
            try FileIO.makeDirectory(directory)
            fd = try FileIO.open(path, flags: O_RDWR | O_CREAT)
        } catch {
            throw error.storageError("cannot use data folder \(directory)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = FileIO.readWholeFile(path).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
            FileIO.close(fd)
            throw StorageError(
                .dataDirectoryLocked, "data folder \(directory) is in use by another process (pid \(holder))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        pid.withUnsafeBytes { _ = try? FileIO.pwriteAll(fd, $0, at: 0, path: path) }
        return DataDirectoryLock(path: path, fd: fd)
    }

    func release() {
        flock(fd, LOCK_UN)
        FileIO.close(fd)
    }
}

extension String {
    fileprivate func trimmingCharacters(in _: WhitespaceSet) -> String {
        var result = Substring(self)
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return String(result)
    }
}

fileprivate enum WhitespaceSet { case whitespacesAndNewlines }
