#if canImport(Glibc)
import Glibc
#endif

/// A preallocated file of fixed size, open for positional writes and mapped shared for reads.
///
/// Reads go through the mapping so that serving a message is a memory copy, not a system call on
/// the cooperative pool. The file is fully allocated before it is mapped, so touching any mapped
/// byte never faults for space (no SIGBUS on a full disk). The mapping is released when the last
/// reference goes: a reader holding the object keeps its bytes valid even after retention unlinks
/// the file.
final class MappedFile: @unchecked Sendable {
    // @unchecked: fd, base and size never change after init; the mapped bytes are written only by
    // the single writer thread (or during recovery, before the file is shared) and read by others
    // only below an offset the writer published under a lock.
    let path: String
    let fd: Int32
    let size: Int
    let base: UnsafeMutableRawPointer
    let writable: Bool

    /// Creates (preallocating `size` bytes) or opens an existing file of at least `size` bytes.
    init(path: String, size: Int, create: Bool, writableMapping: Bool) throws(SystemCallError) {
        self.path = path
        self.writable = writableMapping
        // A new file is allocated under a temporary name and renamed into place, so a file under
        // its final name is always whole: a crash mid-creation leaves only a `.creating` leftover.
        let creatingPath = path + ".creating"
        if create && FileIO.exists(path) { throw SystemCallError(call: "open", path: path, errno: EEXIST) }
        let fd = try FileIO.open(create ? creatingPath : path, flags: create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR)
        do throws(SystemCallError) {
            if create {
                try FileIO.preallocate(fd, length: size, path: path)
                if rename(creatingPath, path) != 0 { throw SystemCallError(call: "rename", path: path, errno: errno) }
                try FileIO.syncDirectory(MappedFile.parentDirectory(of: path))
            }
            let actual = try FileIO.fileSize(fd, path: path)
            self.size = create ? size : actual
            if self.size == 0 { throw SystemCallError(call: "mmap", path: path, errno: EINVAL) }
            let protection = writableMapping ? (PROT_READ | PROT_WRITE) : PROT_READ
            guard let pointer = mmap(nil, self.size, protection, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
                throw SystemCallError(call: "mmap", path: path, errno: errno)
            }
            self.base = pointer
            self.fd = fd
        } catch {
            FileIO.close(fd)
            if create { _ = unlink(creatingPath) }
            throw error
        }
    }

    deinit {
        munmap(base, size)
        FileIO.close(fd)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(writable, "store into a read-only mapping")
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    /// Flushes dirty mapped pages (the writable mapping) to disk.
    func syncMapping() throws(SystemCallError) {
        if msync(base, size, MS_SYNC) != 0 { throw SystemCallError(call: "msync", path: path, errno: errno) }
    }

    func syncData() throws(SystemCallError) { try FileIO.fdatasync(fd, path: path) }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}
