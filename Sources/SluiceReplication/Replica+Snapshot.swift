import Logging
import NIOCore
import SluiceStorage
import Synchronization

extension Replica.State {
    /// Keeps the log from `offset` on for `node` until `snapshotHoldTime` from `now`, within
    /// `maxSnapshotHolds`.
    mutating func hold(node: String, offset: UInt64, now: ContinuousClock.Instant) {
        snapshotHolds = snapshotHolds.filter { $0.value.until > now }
        if snapshotHolds[node] == nil, snapshotHolds.count >= Replica.maxSnapshotHolds,
            let soonest = snapshotHolds.min(by: { $0.value.until < $1.value.until })?.key
        {
            snapshotHolds[soonest] = nil
        }
        snapshotHolds[node] = (offset, now + Replica.snapshotHoldTime)
    }
}

/// A snapshot a leader wrote for one follower connection, removed when that connection ends.
struct SnapshotOffer: Sendable {
    let manifest: SnapshotManifest
    let directory: String

    func path(of file: Int) -> String { directory + "/" + manifest.files[file].name }

    func remove() async {
        let directory = self.directory
        _ = try? await SnapshotFiles.blocking { FileIO.removeTree(directory) }
    }
}

/// The leader's side of snapshot transfer (docs/architecture.md §15): a follower whose log ends
/// before the leader's first retained record cannot be brought back by copying the log alone —
/// the records that defined its topics, groups, users and transactions are gone — so it asks for
/// a snapshot: the companion's files (a consistent copy of the broker's database) and the
/// leader's log start, from which it then copies the log as usual.
extension Replica {
    /// Leftover snapshot folders of an earlier run start with this.
    static let offerFolderPrefix = "snapshot-out-"
    /// How long a snapshot's log start is kept from retention for its follower: the download,
    /// the install and the restart take minutes at most.
    static let snapshotHoldTime: Duration = .seconds(1800)

    /// Snapshot holds kept at most: far more than a group has followers, so a peer naming a new
    /// node in every request cannot grow the table (the hold expiring soonest makes room).
    static let maxSnapshotHolds = 64

    /// The lowest log start a follower that took a snapshot has yet to fetch from (nil: none).
    var snapshotRetentionPin: UInt64? {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.snapshotHolds = state.snapshotHolds.filter { $0.value.until > now }
            return state.snapshotHolds.values.map(\.offset).min()
        }
    }

    /// A follower fetched from `offset`: its snapshot's hold, if any, is no longer needed.
    func releaseSnapshotHold(node: String, fetchedFrom offset: UInt64) {
        state.withLock { state in
            if let hold = state.snapshotHolds[node], offset >= hold.offset { state.snapshotHolds[node] = nil }
        }
    }

    /// Writes a snapshot for `node` (replacing this connection's earlier one) and describes it.
    func offerSnapshot(to node: String, replacing offer: inout SnapshotOffer?) async -> ReplicationMessage {
        let (role, epoch, history) = state.withLock { ($0.role, $0.epoch, $0.history) }
        guard role == .leader else { return .refusal(.init(reason: .notLeader, leaderEpoch: epoch, message: "not the leader")) }
        await offer?.remove()
        offer = nil
        let id = UInt64.random(in: 1...UInt64.max)
        let directory = log.configuration.directory + "/" + Self.offerFolderPrefix + String(id, radix: 16)
        // Taken before the copy: every record before it was applied long before (retention
        // deletes only old segments), so the copy reflects all of them. Held from retention
        // until the follower fetches there, so it does not come back to a log that moved on.
        let logStart = log.minOffset
        state.withLock { $0.hold(node: node, offset: logStart, now: ContinuousClock.now) }
        do {
            try await SnapshotFiles.blocking { try FileIO.makeDirectory(directory) }
            let names = try await companion?.writeSnapshot(into: directory) ?? []
            let files = try await SnapshotFiles.blocking { () throws -> [SnapshotManifest.File] in
                try names.map { name in
                    guard SnapshotManifest.File.isPlainName(name) else {
                        throw ReplicationError(.storage, "snapshot file name \"\(name)\" is not one plain path segment")
                    }
                    let (size, crc) = try SnapshotFiles.sizeAndChecksum(directory + "/" + name)
                    return SnapshotManifest.File(name: name, size: size, crc32c: crc)
                }
            }
            let manifest = SnapshotManifest(id: id, logStart: logStart, history: history, files: files)
            offer = SnapshotOffer(manifest: manifest, directory: directory)
            logger.notice(
                "snapshot written for a follower",
                metadata: [
                    "follower": "\(node)", "log.start": "\(logStart)", "files": "\(files.map(\.name))",
                    "bytes": "\(files.reduce(0) { $0 + $1.size })",
                ])
            return .snapshotReady(manifest)
        } catch {
            state.withLock { $0.snapshotHolds[node] = nil }
            _ = try? await SnapshotFiles.blocking { FileIO.removeTree(directory) }
            logger.error("cannot write a snapshot for a follower", metadata: ["follower": "\(node)", "error": "\(error)"])
            return .refusal(.init(reason: .internalError, leaderEpoch: epoch, message: "cannot write a snapshot: \(error)"))
        }
    }

    /// Bytes of this connection's snapshot.
    func readSnapshot(_ offer: SnapshotOffer?, id: UInt64, file: UInt32, offset: UInt64, maxBytes: UInt32) async
        -> ReplicationMessage
    {
        let epoch = state.withLock { $0.epoch }
        guard let offer, offer.manifest.id == id else {
            return .refusal(.init(reason: .internalError, leaderEpoch: epoch, message: "no snapshot \(id) on this connection"))
        }
        guard Int(file) < offer.manifest.files.count else {
            return .refusal(
                .init(reason: .internalError, leaderEpoch: epoch, message: "snapshot \(id) has \(offer.manifest.files.count) files; there is no file \(file)"))
        }
        let size = offer.manifest.files[Int(file)].size
        guard offset <= size else {
            return .refusal(.init(reason: .internalError, leaderEpoch: epoch, message: "offset \(offset) past the file's \(size) bytes"))
        }
        let count = Int(min(UInt64(max(1, min(Int(maxBytes), SnapshotFiles.chunkBytes))), size - offset))
        let path = offer.path(of: Int(file))
        do {
            return .snapshotData(try await SnapshotFiles.blocking { try SnapshotFiles.readChunk(path, offset: offset, count: count) })
        } catch {
            return .refusal(.init(reason: .internalError, leaderEpoch: epoch, message: "cannot read the snapshot: \(error)"))
        }
    }

    /// Removes snapshot folders an earlier run left behind (a crash while one was offered).
    static func removeLeftoverOffers(in directory: String) async {
        _ = try? await SnapshotFiles.blocking {
            for name in FileIO.listDirectory(directory) where name.hasPrefix(offerFolderPrefix) {
                FileIO.removeTree(directory + "/" + name)
            }
        }
    }
}
