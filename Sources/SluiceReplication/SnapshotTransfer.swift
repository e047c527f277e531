import Logging
import NIOCore
import SluiceStorage

#if canImport(Glibc)
import Glibc
#endif

/// The follower's side of snapshot transfer (docs/architecture.md §15): at start-up, before the
/// broker's database opens, a replica whose log ends before its leader's first retained record
/// (a new, empty replica of a group whose leader already deleted old segments, or one that was
/// down longer than the retention) downloads the leader's snapshot, throws its own log and
/// derived files away, installs the snapshot's files and an empty log starting at the leader's
/// log start, and opens again; the follower session then copies the log from there.
///
/// Crash-safe by a marker: `snapshot-installing` is written (durably) before anything is
/// removed and deleted last, and a folder that has it takes a snapshot again at its next start.
public enum SnapshotTransfer {
    /// A running follower refused for an offset before its leader's log start writes this; the
    /// next start takes a snapshot.
    public static let neededMarker = "snapshot-needed"
    /// Present from the first removal to the end of an installation.
    public static let installingMarker = "snapshot-installing"
    static let partialFolder = "snapshot.partial"
    /// How long the leader may take to write the snapshot (a copy of a large database).
    static let writeDeadline: Duration = .seconds(600)
    static let readDeadline: Duration = .seconds(30)

    /// What the data folder's markers say.
    public static func markers(in directory: String) async -> (needed: Bool, installing: Bool) {
        (try? await SnapshotFiles.blocking {
            (FileIO.exists(directory + "/" + neededMarker), FileIO.exists(directory + "/" + installingMarker))
        }) ?? (false, false)
    }

    /// Notes that the folder needs a snapshot at its next start.
    static func markNeeded(in directory: String, reason: String) async {
        _ = try? await SnapshotFiles.blocking {
            try FileIO.writeAtomically(Array((reason + "\n").utf8), to: directory + "/" + neededMarker)
        }
    }

    /// Downloads `target`'s snapshot into the folder's `snapshot.partial/`, checking each file's
    /// size and CRC-32C, every file synced.
    /// - Throws: `.connectionFailed`/`.timedOut` when the leader cannot be reached or stops
    ///   answering, `.notLeader` when it refuses, `.storage` for a local write or a checksum that
    ///   does not match.
    public static func download(
        from target: LeaderTarget, nodeID: String, key: ReplicationKey?, tls: ReplicationTLS? = nil, directory: String,
        logger: Logger
    ) async throws(ReplicationError) -> SnapshotManifest {
        let partial = directory + "/" + partialFolder
        try await SnapshotFiles.blocking {
            FileIO.removeTree(partial)
            try FileIO.makeDirectory(partial)
        }
        let connection = try await ReplicationChannel.connect(host: target.host, port: target.port, timeout: .seconds(2), tls: tls)
        do {
            return try await connection.executeThenClose { inbound, outbound in
                var call = ReplicationCall(inbound: inbound, outbound: outbound, channel: connection.channel)
                try await call.authenticate(as: nodeID, key: key, peer: target.nodeID, deadline: readDeadline)
                let manifest: SnapshotManifest
                switch try await call.call(.snapshotRequest(nodeID: nodeID), deadline: writeDeadline) {
                case .snapshotReady(let ready):
                    manifest = ready
                case .refusal(let refusal):
                    throw ReplicationError(.notLeader, "\(target.nodeID) refused a snapshot: \(refusal.message)")
                default:
                    throw ReplicationError(.unexpectedMessage, "a snapshot request was not answered with a snapshot")
                }
                // Sizes come from the peer: summed without trapping. A snapshot that cannot fit is
                // refused before a byte is written (one declaring 2^64 bytes would otherwise be
                // downloaded until the disk is full).
                var total: UInt64 = 0
                var tooLarge = false
                for file in manifest.files {
                    let (sum, overflow) = total.addingReportingOverflow(file.size)
                    total = sum
                    tooLarge = tooLarge || overflow
                }
                if let free = DiskUsage.availableBytes(at: directory), tooLarge || total > free {
                    throw ReplicationError(
                        .storage,
                        "the leader's snapshot declares \(tooLarge ? "more than 2^64" : "\(total)") bytes; "
                            + "\(directory) has \(free) bytes free")
                }
                logger.notice(
                    "downloading the leader's snapshot",
                    metadata: ["leader": "\(target.nodeID)", "log.start": "\(manifest.logStart)", "bytes": "\(total)"])
                for (index, file) in manifest.files.enumerated() {
                    try await download(file, index: UInt32(index), of: manifest, into: partial, over: &call)
                }
                try await SnapshotFiles.blocking { try FileIO.syncDirectory(partial) }
                return manifest
            }
        } catch let error as ReplicationError {
            throw error
        } catch {
            throw ReplicationError(.connectionFailed, "snapshot download from \(target.nodeID) failed", cause: error)
        }
    }

    private static func download(
        _ file: SnapshotManifest.File, index: UInt32, of manifest: SnapshotManifest, into partial: String,
        over call: inout ReplicationCall
    ) async throws(ReplicationError) {
        let path = partial + "/" + file.name
        let fd = try await SnapshotFiles.blocking { try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) }
        defer { FileIO.close(fd) }
        var offset: UInt64 = 0
        var crc: UInt32 = 0
        while offset < file.size {
            let reply = try await call.call(
                .snapshotRead(id: manifest.id, file: index, offset: offset, maxBytes: UInt32(SnapshotFiles.chunkBytes)),
                deadline: readDeadline)
            guard case .snapshotData(let bytes) = reply else {
                if case .refusal(let refusal) = reply {
                    throw ReplicationError(.notLeader, "the leader refused a snapshot read: \(refusal.message)")
                }
                throw ReplicationError(.unexpectedMessage, "a snapshot read was not answered with bytes")
            }
            guard bytes.readableBytes > 0, UInt64(bytes.readableBytes) <= file.size - offset else {
                throw ReplicationError(
                    .malformedFrame, "snapshot file \(file.name): \(bytes.readableBytes) bytes at \(offset) of \(file.size)")
            }
            crc = bytes.withUnsafeReadableBytes { sluiceCRC32C($0, continuing: crc) }
            let at = Int(offset)
            try await SnapshotFiles.blocking {
                try bytes.withUnsafeReadableBytes { raw throws(SystemCallError) in try FileIO.pwriteAll(fd, raw, at: at, path: path) }
            }
            offset += UInt64(bytes.readableBytes)
        }
        guard crc == file.crc32c else {
            throw ReplicationError(.storage, "snapshot file \(file.name) arrived damaged (CRC-32C \(crc), expected \(file.crc32c))")
        }
        try await SnapshotFiles.blocking { try FileIO.fdatasync(fd, path: path) }
    }

    /// Installs a downloaded snapshot: the log's files go, so do `derived` (the broker's files
    /// the snapshot replaces, with SQLite's `-wal`/`-shm` beside each) and the epoch history;
    /// the snapshot's files take their place, the leader's epoch history up to the log start is
    /// written, and an empty log starting there is created. The log must be closed.
    /// - Throws: `.malformedFrame`, before anything is touched, when the manifest names a file
    ///   twice or one that is not in `derived` (a leader cannot make it replace the log's own
    ///   files, its markers or its epoch history); `.storage`: the `snapshot-installing` marker
    ///   stays, so the next start redoes it.
    public static func install(
        _ manifest: SnapshotManifest, configuration: CommitLogConfiguration, derived: [String], logger: Logger
    ) async throws(ReplicationError) {
        var named: Set<String> = []
        for file in manifest.files {
            guard derived.contains(file.name) else {
                throw ReplicationError(
                    .malformedFrame,
                    "the snapshot carries \"\(file.name)\", not a file this broker installs (\(derived.joined(separator: ", ")))")
            }
            guard named.insert(file.name).inserted else {
                throw ReplicationError(.malformedFrame, "the snapshot names \"\(file.name)\" twice")
            }
        }
        let directory = configuration.directory
        try await SnapshotFiles.blocking {
            let partial = directory + "/" + partialFolder
            try FileIO.writeAtomically(Array("log start \(manifest.logStart)\n".utf8), to: directory + "/" + installingMarker)
            do throws(StorageError) {
                try CommitLog.discardLogFiles(configuration)
            } catch {
                throw ReplicationError(.storage, "cannot remove the old log", cause: error)
            }
            for name in Set(manifest.files.map(\.name) + derived + [EpochHistory.fileName]) {
                for suffix in ["", "-wal", "-shm", "-journal"] { try FileIO.remove(directory + "/" + name + suffix) }
            }
            for file in manifest.files {
                try FileIO.rename(partial + "/" + file.name, to: directory + "/" + file.name)
            }
            try FileIO.writeAtomically(
                EpochHistory.adopted(from: manifest.history, upTo: manifest.logStart).fileBytes,
                to: directory + "/" + EpochHistory.fileName)
            do throws(StorageError) {
                try CommitLog.createEmptyLog(configuration, startingAt: manifest.logStart)
            } catch {
                throw ReplicationError(.storage, "cannot create the empty log at \(manifest.logStart)", cause: error)
            }
            try FileIO.syncDirectory(directory)
            FileIO.removeTree(partial)
            try FileIO.remove(directory + "/" + neededMarker)
            try FileIO.remove(directory + "/" + installingMarker)
            try FileIO.syncDirectory(directory)
        }
        logger.notice(
            "installed the leader's snapshot",
            metadata: ["log.start": "\(manifest.logStart)", "files": "\(manifest.files.map(\.name))"])
    }
}
