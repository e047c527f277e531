import Foundation

/// Deliberate damage to files, for corruption tests.
public enum FileDamage {
    /// XORs the bytes at `offset ..< offset+count` with 0xFF.
    public static func flipBytes(in path: String, at offset: Int, count: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let original = try handle.read(upToCount: count) ?? Data()
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(original.map { $0 ^ 0xFF }))
        try handle.synchronize()
    }

    /// Writes `data` at `offset`.
    public static func overwrite(in path: String, at offset: Int, with data: Data) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }
}
