import Foundation

/// What a power loss would have left of a data folder, rebuilt from the shadow that
/// `libSluicePowerLoss.so` (Sources/CSluicePowerLoss) records in a child it was preloaded into:
/// each file as of its last sync, each folder's entries as of its last sync.
///
/// Use: start the child with `environment(root:shadow:)`, kill it with `kill -9`, then
/// `restore(shadow:into:)` and open or restart on the folder.
public enum PowerLossImage {
    /// The preload library, built next to the test bundle by `swift build`.
    public static func library() throws -> String {
        let path = BuildProducts.directory + "/libSluicePowerLoss.so"
        guard FileManager.default.fileExists(atPath: path) else { throw BuildProducts.BuildProductMissing(path: path) }
        return path
    }

    /// The environment that makes a child record its synced state of `root` into `shadow`.
    /// `root` must exist; `shadow` is emptied first, so each run starts from what is on disk then.
    public static func environment(root: String, shadow: String) throws -> [String: String] {
        try? FileManager.default.removeItem(atPath: shadow)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return ["LD_PRELOAD": try library(), "SLUICE_POWERLOSS_ROOT": root, "SLUICE_POWERLOSS_SHADOW": shadow]
    }

    public struct DamagedShadow: Error, CustomStringConvertible {
        public var description: String
    }

    /// Replaces everything in `root` by the recorded durable state. Returns how many files were
    /// restored from a synced copy and how many came back as zeros (listed, never synced).
    @discardableResult
    public static func restore(shadow: String, into root: String) throws -> (synced: Int, zeroed: Int) {
        let rootText = try String(contentsOfFile: shadow + "/root", encoding: .utf8)
        guard let rootInode = UInt64(rootText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw DamagedShadow(description: "shadow root file says '\(rootText)'")
        }
        let manager = FileManager.default
        for name in try manager.contentsOfDirectory(atPath: root) {
            try manager.removeItem(atPath: root + "/" + name)
        }
        var counts = (synced: 0, zeroed: 0)
        try rebuild(folderInode: rootInode, at: root, shadow: shadow, counts: &counts)
        return counts
    }

    private static func rebuild(
        folderInode: UInt64, at path: String, shadow: String, counts: inout (synced: Int, zeroed: Int)
    ) throws {
        let manager = FileManager.default
        guard let listing = try? String(contentsOfFile: "\(shadow)/dirs/\(folderInode)", encoding: .utf8) else {
            return  // a folder whose own entries were never synced is empty after a power loss
        }
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, let inode = UInt64(fields[1]), let size = Int(fields[2]) else {
                throw DamagedShadow(description: "bad listing line '\(line)' of folder \(folderInode)")
            }
            let child = path + "/" + fields[3]
            if fields[0] == "d" {
                try manager.createDirectory(atPath: child, withIntermediateDirectories: false)
                try rebuild(folderInode: inode, at: child, shadow: shadow, counts: &counts)
            } else {
                let copy = "\(shadow)/files/\(inode)"
                if manager.fileExists(atPath: copy) {
                    try manager.copyItem(atPath: copy, toPath: child)
                    counts.synced += 1
                } else {
                    // Listed but never synced: the name and size survive, the data does not.
                    guard manager.createFile(atPath: child, contents: nil) else {
                        throw DamagedShadow(description: "cannot create \(child)")
                    }
                    if size > 0 { truncate(child, off_t(size)) }
                    counts.zeroed += 1
                }
            }
        }
    }
}
