import SluiceStorage
import Synchronization
import Logging
import NIOCore

/// The messages of the replication port (`--replication-port`), a request/response protocol over
/// one TCP connection per follower.
///
/// Framing (written by hand rather than generated from a `.proto`: a handful of small messages, no
/// streaming, and no protoc plugin build in the loop): a frame is a little-endian `u32` length of
/// the body, then the body: a `u8` kind and the fields below, integers little-endian, strings as
/// `u16` length + UTF-8, byte runs as `u32` length + bytes. At most `maxFrameBytes` per frame.
public enum ReplicationMessage: Sendable, Equatable {
    /// Follower → leader: "I hold every byte below `offset`; send what follows". `epoch` is the
    /// leader epoch the follower believes in; a leader seeing a higher one knows it was deposed.
    case fetch(Fetch)
    /// Leader → follower: the next run of the log (possibly empty after `waitMs`), the leader's
    /// end, high-water mark and epoch history.
    case fetchResult(FetchResult)
    /// Follower → leader: where does `epoch` end in your log? (Finding the divergence point.)
    case epochQuery(epoch: Int64)
    /// Leader → follower: the largest epoch ≤ the one asked for that the leader knows, and the
    /// offset where it ends in the leader's log.
    case epochAnswer(leaderEpoch: Int64, epoch: Int64, endOffset: UInt64)
    /// Anyone → anyone: how complete is your log? (Candidacy before an election.)
    case statusQuery
    case status(ReplicaStatus)
    /// A request refused: not the leader, a stale epoch, an offset the leader cannot serve.
    case refusal(Refusal)
    /// Follower → leader: "your retention deleted records I lack; give me a snapshot". The
    /// leader writes one (its derived state as files, docs/architecture.md §15) and answers
    /// with its manifest; it lives until the connection closes or another is asked for.
    case snapshotRequest(nodeID: String)
    case snapshotReady(SnapshotManifest)
    /// Follower → leader: up to `maxBytes` of file `file` of snapshot `id` from `offset`.
    case snapshotRead(id: UInt64, file: UInt32, offset: UInt64, maxBytes: UInt32)
    /// Leader → follower: those bytes (fewer only at the file's end).
    case snapshotData(ByteBuffer)
    /// The handshake every connection begins with (`ReplicationHandshake.swift`): client → server,
    /// who it is and a fresh nonce.
    case hello(nodeID: String, nonce: [UInt8])
    /// Server → client: its nonce, and its proof that it holds the group's key.
    case challenge(nonce: [UInt8], proof: [UInt8])
    /// Client → server: its proof.
    case proof([UInt8])
    /// Server → client: the proof holds; requests may follow.
    case welcome

    public struct Fetch: Sendable, Equatable {
        public var epoch: Int64
        public var offset: UInt64
        public var maxBytes: UInt32
        public var waitMs: UInt32
        public var nodeID: String

        public init(epoch: Int64, offset: UInt64, maxBytes: UInt32, waitMs: UInt32, nodeID: String) {
            self.epoch = epoch
            self.offset = offset
            self.maxBytes = maxBytes
            self.waitMs = waitMs
            self.nodeID = nodeID
        }
    }

    public struct FetchResult: Sendable, Equatable {
        public var leaderEpoch: Int64
        public var leaderEnd: UInt64
        public var highWatermark: UInt64
        public var history: EpochHistory
        public var chunkStart: UInt64
        public var chunkNext: UInt64
        public var bytes: ByteBuffer

        public init(
            leaderEpoch: Int64, leaderEnd: UInt64, highWatermark: UInt64, history: EpochHistory, chunkStart: UInt64,
            chunkNext: UInt64, bytes: ByteBuffer
        ) {
            self.leaderEpoch = leaderEpoch
            self.leaderEnd = leaderEnd
            self.highWatermark = highWatermark
            self.history = history
            self.chunkStart = chunkStart
            self.chunkNext = chunkNext
            self.bytes = bytes
        }
    }

    public struct Refusal: Sendable, Equatable {
        public enum Reason: UInt8, Sendable {
            case notLeader = 1, staleEpoch = 2, offsetOutOfRange = 3, internalError = 4
            /// The offset asked for lies before the leader's first retained record: only a
            /// snapshot can bring this follower back.
            case snapshotNeeded = 5
            /// The bytes sent were not a valid request (length, kind or fields); the message says
            /// what was wrong, and the connection closes after it.
            case malformedRequest = 6
            /// Too many connections or snapshots at once; the message names the limit. Try again later.
            case overloaded = 7
            /// The connection did not (or not yet) prove it holds the group's replication key: a
            /// request before the handshake, a wrong proof, or a server that has no key yet.
            /// The connection closes after it.
            case unauthenticated = 8
        }
        public var reason: Reason
        public var leaderEpoch: Int64
        public var message: String

        public init(reason: Reason, leaderEpoch: Int64, message: String) {
            self.reason = reason
            self.leaderEpoch = leaderEpoch
            self.message = message
        }
    }

    public static let maxFrameBytes = 64 << 20
    /// The largest frame the replication port reads: every request is a few hundred bytes (the
    /// longest, a fetch, carries a node id of at most `maxNodeIDBytes`), so a peer cannot make the
    /// server buffer `maxFrameBytes` per connection. Answers, read by followers, keep the larger bound.
    public static let maxRequestBytes = 64 << 10
    /// A node id is what `--node-id` allows (an etcd key segment): 1 to 255 bytes, no `/`, spaces
    /// or control characters. It names a follower in the leader's acknowledgement table, metric
    /// labels and logs.
    public static let maxNodeIDBytes = 255
    /// No log offset a peer sends may lie past this (4 EiB; no log gets near it): a snapshot's log
    /// start is where the follower's new log begins, and a segment there must end without
    /// overflowing a `UInt64`.
    public static let maxLogOffset: UInt64 = 1 << 62

    /// Why `nodeID` cannot name a replica (nil: it can).
    public static func nodeIDProblem(_ nodeID: String) -> String? {
        if nodeID.isEmpty { return "is empty" }
        if nodeID.utf8.count > maxNodeIDBytes { return "is \(nodeID.utf8.count) bytes; at most \(maxNodeIDBytes)" }
        if nodeID.contains("/") || !nodeID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) {
            return "contains '/', a space or a control character"
        }
        return nil
    }

    private enum Kind: UInt8 {
        case fetch = 1, fetchResult, epochQuery, epochAnswer, statusQuery, status, refusal
        case snapshotRequest, snapshotReady, snapshotRead, snapshotData
        case hello, challenge, proof, welcome
    }

    /// Nonces and proofs of the handshake: 32 bytes each (a proof is an HMAC-SHA256).
    public static let handshakeFieldBytes = 32

    /// The whole frame: length prefix and body.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        buffer.writeInteger(UInt32(0), endianness: .little)
        switch self {
        case .fetch(let fetch):
            buffer.writeInteger(Kind.fetch.rawValue)
            buffer.writeInteger(fetch.epoch, endianness: .little)
            buffer.writeInteger(fetch.offset, endianness: .little)
            buffer.writeInteger(fetch.maxBytes, endianness: .little)
            buffer.writeInteger(fetch.waitMs, endianness: .little)
            Self.writeString(fetch.nodeID, into: &buffer)
        case .fetchResult(let result):
            buffer.writeInteger(Kind.fetchResult.rawValue)
            buffer.writeInteger(result.leaderEpoch, endianness: .little)
            buffer.writeInteger(result.leaderEnd, endianness: .little)
            buffer.writeInteger(result.highWatermark, endianness: .little)
            buffer.writeInteger(result.chunkStart, endianness: .little)
            buffer.writeInteger(result.chunkNext, endianness: .little)
            Self.writeHistory(result.history, into: &buffer)
            buffer.writeInteger(UInt32(result.bytes.readableBytes), endianness: .little)
            buffer.writeImmutableBuffer(result.bytes)
        case .epochQuery(let epoch):
            buffer.writeInteger(Kind.epochQuery.rawValue)
            buffer.writeInteger(epoch, endianness: .little)
        case .epochAnswer(let leaderEpoch, let epoch, let endOffset):
            buffer.writeInteger(Kind.epochAnswer.rawValue)
            buffer.writeInteger(leaderEpoch, endianness: .little)
            buffer.writeInteger(epoch, endianness: .little)
            buffer.writeInteger(endOffset, endianness: .little)
        case .statusQuery:
            buffer.writeInteger(Kind.statusQuery.rawValue)
        case .status(let status):
            buffer.writeInteger(Kind.status.rawValue)
            buffer.writeInteger(status.isLeader ? UInt8(1) : 0)
            buffer.writeInteger(status.lastEpoch, endianness: .little)
            buffer.writeInteger(status.endOffset, endianness: .little)
            Self.writeString(status.nodeID, into: &buffer)
            buffer.writeInteger(status.startOffset, endianness: .little)
        case .refusal(let refusal):
            buffer.writeInteger(Kind.refusal.rawValue)
            buffer.writeInteger(refusal.reason.rawValue)
            buffer.writeInteger(refusal.leaderEpoch, endianness: .little)
            Self.writeString(refusal.message, into: &buffer)
        case .snapshotRequest(let nodeID):
            buffer.writeInteger(Kind.snapshotRequest.rawValue)
            Self.writeString(nodeID, into: &buffer)
        case .snapshotReady(let manifest):
            buffer.writeInteger(Kind.snapshotReady.rawValue)
            buffer.writeInteger(manifest.id, endianness: .little)
            buffer.writeInteger(manifest.logStart, endianness: .little)
            Self.writeHistory(manifest.history, into: &buffer)
            buffer.writeInteger(UInt32(manifest.files.count), endianness: .little)
            for file in manifest.files {
                Self.writeString(file.name, into: &buffer)
                buffer.writeInteger(file.size, endianness: .little)
                buffer.writeInteger(file.crc32c, endianness: .little)
            }
        case .snapshotRead(let id, let file, let offset, let maxBytes):
            buffer.writeInteger(Kind.snapshotRead.rawValue)
            buffer.writeInteger(id, endianness: .little)
            buffer.writeInteger(file, endianness: .little)
            buffer.writeInteger(offset, endianness: .little)
            buffer.writeInteger(maxBytes, endianness: .little)
        case .snapshotData(let bytes):
            buffer.writeInteger(Kind.snapshotData.rawValue)
            buffer.writeInteger(UInt32(bytes.readableBytes), endianness: .little)
            buffer.writeImmutableBuffer(bytes)
        case .hello(let nodeID, let nonce):
            buffer.writeInteger(Kind.hello.rawValue)
            Self.writeString(nodeID, into: &buffer)
            Self.writeField(nonce, into: &buffer)
        case .challenge(let nonce, let proof):
            buffer.writeInteger(Kind.challenge.rawValue)
            Self.writeField(nonce, into: &buffer)
            Self.writeField(proof, into: &buffer)
        case .proof(let proof):
            buffer.writeInteger(Kind.proof.rawValue)
            Self.writeField(proof, into: &buffer)
        case .welcome:
            buffer.writeInteger(Kind.welcome.rawValue)
        }
        buffer.setInteger(UInt32(buffer.readableBytes - 4), at: buffer.readerIndex, endianness: .little)
        return buffer
    }

    /// Decodes one frame body (without its length prefix).
    /// - Throws: `.malformedFrame` naming the kind or field that does not parse, or trailing bytes.
    public static func decode(_ body: ByteBuffer) throws(ReplicationError) -> ReplicationMessage {
        var buffer = body
        guard let rawKind = buffer.readInteger(as: UInt8.self), let kind = Kind(rawValue: rawKind) else {
            throw ReplicationError(.malformedFrame, "unknown message kind")
        }
        func integer<T: FixedWidthInteger>(_ field: String, _: T.Type = T.self) throws(ReplicationError) -> T {
            guard let value = buffer.readInteger(endianness: .little, as: T.self) else {
                throw ReplicationError(.malformedFrame, "\(kind) frame ends before its \(field)")
            }
            return value
        }
        func string(_ field: String) throws(ReplicationError) -> String {
            let length: UInt16 = try integer(field)
            guard let value = buffer.readString(length: Int(length)) else {
                throw ReplicationError(.malformedFrame, "\(kind) frame ends inside its \(field)")
            }
            return value
        }
        func nodeID() throws(ReplicationError) -> String {
            let value = try string("nodeID")
            if let problem = nodeIDProblem(value) {
                throw ReplicationError(.malformedFrame, "\(kind) frame's nodeID \(problem)")
            }
            return value
        }
        func field(_ name: String) throws(ReplicationError) -> [UInt8] {
            let length: UInt8 = try integer(name)
            guard Int(length) == handshakeFieldBytes else {
                throw ReplicationError(.malformedFrame, "\(kind) frame's \(name) has \(length) bytes; it must have \(handshakeFieldBytes)")
            }
            guard let bytes = buffer.readBytes(length: Int(length)) else {
                throw ReplicationError(.malformedFrame, "\(kind) frame ends inside its \(name)")
            }
            return bytes
        }
        func readHistory(_ count: UInt32) throws(ReplicationError) -> EpochHistory {
            guard count <= EpochHistory.maxEntries else {
                throw ReplicationError(.malformedFrame, "epoch history of \(count) entries; limit \(EpochHistory.maxEntries)")
            }
            var entries: [EpochHistory.Entry] = []
            for _ in 0..<count {
                entries.append(EpochHistory.Entry(epoch: try integer("history epoch"), startOffset: try integer("history offset")))
            }
            return try EpochHistory(checking: entries)
        }
        let message: ReplicationMessage
        switch kind {
        case .fetch:
            message = .fetch(
                Fetch(
                    epoch: try integer("epoch"), offset: try integer("offset"), maxBytes: try integer("maxBytes"),
                    waitMs: try integer("waitMs"), nodeID: try nodeID()))
        case .fetchResult:
            let leaderEpoch: Int64 = try integer("leaderEpoch")
            let leaderEnd: UInt64 = try integer("leaderEnd")
            let highWatermark: UInt64 = try integer("highWatermark")
            let chunkStart: UInt64 = try integer("chunkStart")
            let chunkNext: UInt64 = try integer("chunkNext")
            let history = try readHistory(try integer("history count"))
            let byteCount: UInt32 = try integer("byte count")
            guard let bytes = buffer.readSlice(length: Int(byteCount)) else {
                throw ReplicationError(.malformedFrame, "fetchResult frame ends inside its \(byteCount) log bytes")
            }
            guard chunkNext >= chunkStart, bytes.readableBytes == 0 || chunkNext - chunkStart == UInt64(bytes.readableBytes)
            else {
                throw ReplicationError(.malformedFrame, "chunk [\(chunkStart), \(chunkNext)) does not match its \(byteCount) bytes")
            }
            message = .fetchResult(
                FetchResult(
                    leaderEpoch: leaderEpoch, leaderEnd: leaderEnd, highWatermark: highWatermark, history: history,
                    chunkStart: chunkStart, chunkNext: chunkNext, bytes: bytes))
        case .epochQuery:
            message = .epochQuery(epoch: try integer("epoch"))
        case .epochAnswer:
            message = .epochAnswer(leaderEpoch: try integer("leaderEpoch"), epoch: try integer("epoch"), endOffset: try integer("endOffset"))
        case .statusQuery:
            message = .statusQuery
        case .status:
            let role: UInt8 = try integer("role")
            let lastEpoch: Int64 = try integer("lastEpoch")
            let endOffset: UInt64 = try integer("endOffset")
            let nodeID = try string("nodeID")
            message = .status(
                ReplicaStatus(
                    nodeID: nodeID, isLeader: role == 1, lastEpoch: lastEpoch, endOffset: endOffset,
                    startOffset: try integer("startOffset")))
        case .refusal:
            let raw: UInt8 = try integer("reason")
            guard let reason = Refusal.Reason(rawValue: raw) else {
                throw ReplicationError(.malformedFrame, "unknown refusal reason \(raw)")
            }
            message = .refusal(Refusal(reason: reason, leaderEpoch: try integer("leaderEpoch"), message: try string("message")))
        case .snapshotRequest:
            message = .snapshotRequest(nodeID: try nodeID())
        case .snapshotReady:
            let id: UInt64 = try integer("id")
            let logStart: UInt64 = try integer("logStart")
            guard logStart <= maxLogOffset else {
                throw ReplicationError(.malformedFrame, "snapshot log start \(logStart) is past the largest log offset \(maxLogOffset)")
            }
            let history = try readHistory(try integer("history count"))
            let count: UInt32 = try integer("file count")
            guard count <= SnapshotManifest.maxFiles else {
                throw ReplicationError(.malformedFrame, "snapshot of \(count) files; limit \(SnapshotManifest.maxFiles)")
            }
            var files: [SnapshotManifest.File] = []
            for _ in 0..<count {
                let name = try string("file name")
                guard SnapshotManifest.File.isPlainName(name) else {
                    throw ReplicationError(.malformedFrame, "snapshot file name \"\(name)\" is not one plain path segment")
                }
                files.append(SnapshotManifest.File(name: name, size: try integer("file size"), crc32c: try integer("file crc32c")))
            }
            message = .snapshotReady(SnapshotManifest(id: id, logStart: logStart, history: history, files: files))
        case .snapshotRead:
            message = .snapshotRead(
                id: try integer("id"), file: try integer("file"), offset: try integer("offset"), maxBytes: try integer("maxBytes"))
        case .snapshotData:
            let byteCount: UInt32 = try integer("byte count")
            guard let bytes = buffer.readSlice(length: Int(byteCount)) else {
                throw ReplicationError(.malformedFrame, "snapshotData frame ends inside its \(byteCount) bytes")
            }
            message = .snapshotData(bytes)
        case .hello:
            message = .hello(nodeID: try nodeID(), nonce: try field("nonce"))
        case .challenge:
            message = .challenge(nonce: try field("nonce"), proof: try field("proof"))
        case .proof:
            message = .proof(try field("proof"))
        case .welcome:
            message = .welcome
        }
        if buffer.readableBytes != 0 {
            throw ReplicationError(.malformedFrame, "\(kind) frame has \(buffer.readableBytes) trailing bytes")
        }
        return message
    }

    private static func writeHistory(_ history: EpochHistory, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(history.entries.count), endianness: .little)
        for entry in history.entries {
            buffer.writeInteger(entry.epoch, endianness: .little)
            buffer.writeInteger(entry.startOffset, endianness: .little)
        }
    }

    /// A handshake field: `u8` length + bytes.
    private static func writeField(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        let prefix = bytes.prefix(Int(UInt8.max))
        buffer.writeInteger(UInt8(prefix.count))
        buffer.writeBytes(prefix)
    }

    private static func writeString(_ value: String, into buffer: inout ByteBuffer) {
        let bytes = Array(value.utf8.prefix(Int(UInt16.max)))
        buffer.writeInteger(UInt16(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
    }
}

/// How complete a replica's log is: what a candidate compares before bidding for leadership.
public struct ReplicaStatus: Sendable, Equatable {
    public var nodeID: String
    public var isLeader: Bool
    /// The newest epoch in its epoch history (0: none).
    public var lastEpoch: Int64
    public var endOffset: UInt64
    /// The first offset its log still holds (retention moves it; a follower that lacks records
    /// below a leader's start needs a snapshot).
    public var startOffset: UInt64

    public init(nodeID: String, isLeader: Bool, lastEpoch: Int64, endOffset: UInt64, startOffset: UInt64 = 0) {
        self.nodeID = nodeID
        self.isLeader = isLeader
        self.lastEpoch = lastEpoch
        self.endOffset = endOffset
        self.startOffset = startOffset
    }

    /// Whether this log is more complete than `other`'s: a newer last epoch, or the same epoch and
    /// more bytes (Raft's "at least as up to date" order on (last term, length)).
    public func isMoreComplete(than other: ReplicaStatus) -> Bool {
        (lastEpoch, endOffset) > (other.lastEpoch, other.endOffset)
    }
}

/// Splits the replication byte stream into frame bodies (length prefix removed), refusing a
/// length over `limit` as soon as its prefix arrives (before buffering any of it).
struct ReplicationFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// `ReplicationMessage.maxRequestBytes` on the replication port, `maxFrameBytes` for answers.
    var limit: Int = ReplicationMessage.maxFrameBytes

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return .needMoreData
        }
        guard length <= limit else {
            throw ReplicationError(.malformedFrame, "frame of \(length) bytes; limit \(limit)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// What a leader's snapshot holds: its derived state as files (the broker's database copy and
/// the like, named as in the data folder), the log offset the follower's empty log starts at,
/// and the leader's epoch history.
public struct SnapshotManifest: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        public var name: String
        public var size: UInt64
        public var crc32c: UInt32

        public init(name: String, size: UInt64, crc32c: UInt32) {
            self.name = name
            self.size = size
            self.crc32c = crc32c
        }

        /// One path segment, not "." or "..": a leader cannot make a follower write elsewhere.
        public static func isPlainName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 255 && !name.contains("/") && name != "." && name != ".."
                && !name.contains("\0")
        }
    }

    public static let maxFiles: UInt32 = 64

    public var id: UInt64
    public var logStart: UInt64
    public var history: EpochHistory
    public var files: [File]

    public init(id: UInt64, logStart: UInt64, history: EpochHistory, files: [File]) {
        self.id = id
        self.logStart = logStart
        self.history = history
        self.files = files
    }
}
