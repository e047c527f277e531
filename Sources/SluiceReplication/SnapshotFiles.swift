import NIOCore
import NIOPosix
import SluiceStorage

#if canImport(Glibc)
import Glibc
#endif

/// The blocking file work of snapshots (writing, reading, checksumming, moving files) over the
/// store's `FileIO`, run on NIO's blocking thread pool so it never occupies the cooperative pool.
enum SnapshotFiles {
    static let chunkBytes = 4 << 20

    /// Runs `body` on the blocking pool; a `SystemCallError` becomes a `.storage` error.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(ReplicationError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { try body() }
        } catch let error as ReplicationError {
            throw error
        } catch let error as SystemCallError {
            throw ReplicationError(.storage, error.description, cause: error)
        } catch {
            throw ReplicationError(.storage, "blocking file work failed", cause: error)
        }
    }

    /// Size and CRC-32C of a whole file.
    static func sizeAndChecksum(_ path: String) throws(SystemCallError) -> (size: UInt64, crc32c: UInt32) {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var size: UInt64 = 0
        var crc: UInt32 = 0
        while true {
            let count = try FileIO.preadAll(fd, into: buffer, at: Int(size), path: path)
            if count == 0 { break }
            crc = sluiceCRC32C(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), continuing: crc)
            size += UInt64(count)
            if count < chunkBytes { break }
        }
        return (size, crc)
    }

    /// Up to `count` bytes of `path` from `offset` (fewer only at its end).
    static func readChunk(_ path: String, offset: UInt64, count: Int) throws(SystemCallError) -> ByteBuffer {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: SystemCallError?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            do throws(SystemCallError) {
                return try FileIO.preadAll(
                    fd, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<count]), at: Int(offset), path: path)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return buffer
    }
}
