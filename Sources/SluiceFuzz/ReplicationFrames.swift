import NIOCore
import SluiceReplication
import SluiceTesting

/// One replication frame written field by field (`ReplicationMessage`'s layout: a little-endian
/// `u32` body length, a `u8` kind, integers little-endian, strings as `u16` length + bytes, byte
/// runs as `u32` length + bytes), so a fuzzer can make any length, count or string lie.
struct FrameBytes {
    var body: [UInt8]

    init(kind: UInt8) { body = [kind] }
    init(body: [UInt8]) { self.body = body }

    mutating func u8(_ value: UInt8) { body.append(value) }
    mutating func u16(_ value: UInt16) { little(UInt64(value), 2) }
    mutating func u32(_ value: UInt32) { little(UInt64(value), 4) }
    mutating func u64(_ value: UInt64) { little(value, 8) }
    mutating func i64(_ value: Int64) { little(UInt64(bitPattern: value), 8) }

    /// A string: its length (or `claimed`), then its bytes (at most 65,535 of them).
    mutating func string(_ bytes: [UInt8], claimed: UInt16? = nil) {
        let kept = Array(bytes.prefix(Int(UInt16.max)))
        u16(claimed ?? UInt16(kept.count))
        body += kept
    }

    /// A byte run: its length (or `claimed`), then the bytes.
    mutating func run(_ bytes: [UInt8], claimed: UInt32? = nil) {
        u32(claimed ?? UInt32(bytes.count))
        body += bytes
    }

    private mutating func little(_ value: UInt64, _ count: Int) {
        for index in 0..<count { body.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    /// Length prefix and body.
    var framed: [UInt8] { Self.prefix(UInt32(body.count)) + body }

    static func prefix(_ length: UInt32) -> [UInt8] {
        [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
    }
}

/// What the fuzzer knows of the broker it aims at: enough for values that reach past the first
/// check (offsets inside its log, its epoch) and for the one request it must not send by
/// accident (a fetch naming a newer epoch deposes a leader, by design).
public struct ReplicationTargetView: Sendable {
    public var name: String
    public var port: Int
    public var isLeader = false
    public var epoch: Int64 = 0
    public var startOffset: UInt64 = 0
    public var endOffset: UInt64 = 0
    /// Fetches naming an epoch above this are not sent (nil: any epoch; a follower refuses
    /// fetches before looking at the epoch).
    public var epochCeiling: Int64?

    public init(name: String, port: Int) {
        self.name = name
        self.port = port
    }
}

/// A snapshot the target offered on the current connection, for reads that reach real bytes.
struct OfferedSnapshot {
    var id: UInt64
    var sizes: [UInt64]
}

/// Seeded replication frames with edge values in every numeric field, mutated frames and raw
/// garbage. The same seed gives the same frames.
struct ReplicationFrameGenerator {
    var random: SplitMix64
    var view: ReplicationTargetView

    init(seed: UInt64, view: ReplicationTargetView) {
        random = SplitMix64(seed: seed)
        self.view = view
    }

    mutating func next() -> UInt64 { random.next() }
    mutating func below(_ bound: Int) -> Int { Int(random.next() % UInt64(max(1, bound))) }
    mutating func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }
    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }
    mutating func garbage(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) } }

    // MARK: field values

    static let offsetEdges: [UInt64] = [
        0, 1, 7, 8, ReplicationMessage.maxLogOffset, ReplicationMessage.maxLogOffset + 1, UInt64(Int64.max),
        UInt64(Int64.max) + 1, .max, .max - 1, UInt64(UInt32.max), UInt64(UInt32.max) + 1, 1 << 20, 64 << 20,
    ]
    static let epochEdges: [Int64] = [0, -1, 1, .min, .min + 1, .max, .max - 1, Int64(Int32.max), Int64(UInt32.max)]
    static let sizeEdges: [UInt32] = [
        0, 1, .max, .max - 1, UInt32(Int32.max), UInt32(Int32.max) + 1, 4 << 20, (4 << 20) + 1, 64 << 20, 65_535, 65_536,
    ]

    /// A log offset: edges of the type, of the target's log, or a plausible one inside it.
    mutating func offset() -> UInt64 {
        switch below(6) {
        case 0: return pick(Self.offsetEdges)
        case 1: return next()
        case 2:
            return pick([
                view.startOffset, view.endOffset, view.startOffset &- 1, view.endOffset &+ 1, view.endOffset &- 1,
                view.endOffset &+ 4096,
            ])
        default:
            let span = view.endOffset > view.startOffset ? view.endOffset - view.startOffset : 0
            return view.startOffset + (span == 0 ? 0 : next() % (span + 1))
        }
    }

    mutating func epoch() -> Int64 {
        switch below(4) {
        case 0: return pick(Self.epochEdges)
        case 1: return Int64(bitPattern: next())
        default: return pick([view.epoch, view.epoch &- 1, view.epoch &+ 1, 0, 1])
        }
    }

    /// An epoch for a fetch: never above the ceiling (a fetch above it deposes the leader).
    mutating func fetchEpoch() -> Int64 {
        let value = epoch()
        guard let ceiling = view.epochCeiling, value > ceiling else { return value }
        return pick([ceiling, ceiling &- 1, .min, 0, -1].filter { $0 <= ceiling })
    }

    mutating func size32() -> UInt32 {
        switch below(4) {
        case 0: return pick(Self.sizeEdges)
        case 1: return UInt32(truncatingIfNeeded: next())
        default: return UInt32(below(64 << 10))
        }
    }

    mutating func waitMs() -> UInt32 {
        chance(8) ? pick([UInt32.max, 10_000, 10_001, 2_000]) : UInt32(pick([0, 0, 1, 10, 50]))
    }

    /// A node id as bytes: mostly valid, else empty, too long, with a space, slash, NUL,
    /// control character, or invalid UTF-8.
    mutating func nodeID() -> [UInt8] {
        switch below(12) {
        case 0: return []
        case 1: return Array(repeating: UInt8(ascii: "n"), count: pick([255, 256, 1000, 65_535]))
        case 2: return Array("a b".utf8)
        case 3: return Array("a/b".utf8)
        case 4: return [UInt8(ascii: "x"), 0, UInt8(ascii: "y")]
        case 5: return [0xFF, 0xFE, 0xC3]
        case 6: return [UInt8(ascii: "x"), 0x7F]
        case 7: return Array("é😀‮".utf8)
        case 8, 9: return Array("node-\(next() % 100_000)".utf8)  // many distinct followers
        default: return Array("fuzz-\(below(8))".utf8)
        }
    }

    /// An epoch history: a count (sometimes lying, past the limit) and entries (sometimes out of order).
    mutating func history(into frame: inout FrameBytes) {
        let count = chance(4) ? UInt32(below(4)) : pick([0, 1, 2, EpochHistory.maxEntries, EpochHistory.maxEntries + 1, .max])
        let written = chance(6) ? min(Int(count), 8) : min(Int(count), 3)
        frame.u32(count)
        var epoch: Int64 = 0
        var start: UInt64 = 0
        for _ in 0..<written {
            if chance(3) {
                frame.i64(self.epoch())
                frame.u64(offset())
            } else {
                epoch += Int64(1 + below(3))
                start += UInt64(below(4096))
                frame.i64(epoch)
                frame.u64(start)
            }
        }
    }

    // MARK: whole frames

    /// Kinds 1 to 11 are the protocol's (ReplicationMessage.Kind); anything else is unknown.
    static let requestKinds: [UInt8] = [1, 3, 5, 8, 10]

    /// A frame of any kind, mostly requests, with edge values (`snapshot`: one offered on this
    /// connection, for reads that name it). Returns a name for the report.
    mutating func frame(snapshot: OfferedSnapshot?) -> (name: String, frame: FrameBytes) {
        switch below(40) {
        case 0..<10:
            var frame = FrameBytes(kind: 1)
            frame.i64(fetchEpoch())
            frame.u64(offset())
            frame.u32(size32())
            frame.u32(waitMs())
            frame.string(nodeID())
            return ("fetch", frame)
        case 10..<14:
            var frame = FrameBytes(kind: 3)
            frame.i64(epoch())
            return ("epochQuery", frame)
        case 14..<17:
            return ("statusQuery", FrameBytes(kind: 5))
        case 17, 18:
            var frame = FrameBytes(kind: 8)
            frame.string(nodeID())
            return ("snapshotRequest", frame)
        case 19..<26:
            var frame = FrameBytes(kind: 10)
            if let snapshot, !chance(4) {
                let file = chance(5) ? pick([UInt32(snapshot.sizes.count), .max, .max - 1]) : UInt32(below(snapshot.sizes.count))
                let size = Int(file) < snapshot.sizes.count ? snapshot.sizes[Int(file)] : 0
                frame.u64(chance(8) ? snapshot.id &+ 1 : snapshot.id)
                frame.u32(file)
                frame.u64(chance(3) ? pick([0, size, size &- 1, size &+ 1, .max, UInt64(Int64.max) + 1]) : (size == 0 ? 0 : next() % size))
                frame.u32(size32())
            } else {
                frame.u64(chance(2) ? next() : pick([0, 1, .max]))
                frame.u32(chance(2) ? 0 : pick([1, .max]))
                frame.u64(offset())
                frame.u32(size32())
            }
            return ("snapshotRead", frame)
        case 26:
            var frame = FrameBytes(kind: 2)
            for _ in 0..<5 { frame.u64(chance(2) ? offset() : UInt64(bitPattern: epoch())) }
            history(into: &frame)
            let bytes = garbage(below(64))
            frame.run(bytes, claimed: chance(3) ? size32() : nil)
            return ("fetchResult (an answer, sent to the server)", frame)
        case 27:
            var frame = FrameBytes(kind: 4)
            frame.i64(epoch())
            frame.i64(epoch())
            frame.u64(offset())
            return ("epochAnswer (an answer)", frame)
        case 28:
            var frame = FrameBytes(kind: 6)
            frame.u8(UInt8(truncatingIfNeeded: next()))
            frame.i64(epoch())
            frame.u64(offset())
            frame.string(nodeID())
            frame.u64(offset())
            return ("status (an answer)", frame)
        case 29:
            var frame = FrameBytes(kind: 7)
            frame.u8(pick([0, 1, 4, 5, 6, 7, 8, 255]))
            frame.i64(epoch())
            frame.string(garbage(below(40)))
            return ("refusal (an answer)", frame)
        case 30:
            var frame = FrameBytes(kind: 9)
            frame.u64(next())
            frame.u64(offset())
            history(into: &frame)
            let count = chance(3) ? pick([SnapshotManifest.maxFiles, SnapshotManifest.maxFiles + 1, .max]) : UInt32(below(3))
            frame.u32(count)
            for _ in 0..<min(Int(count), 3) {
                frame.string(pick([Array("db".utf8), Array("..".utf8), Array("a/b".utf8), [], nodeID()]))
                frame.u64(offset())
                frame.u32(UInt32(truncatingIfNeeded: next()))
            }
            return ("snapshotReady (an answer)", frame)
        case 31:
            var frame = FrameBytes(kind: 11)
            frame.run(garbage(below(64)), claimed: chance(2) ? size32() : nil)
            return ("snapshotData (an answer)", frame)
        case 32, 33:
            var frame = FrameBytes(kind: pick([0, 12, 13, 127, 128, 255]))
            frame.body += garbage(below(32))
            return ("unknown kind", frame)
        default:
            // A valid request with a trailing byte, or cut before its last field.
            var (name, frame) = chance(2) ? ("fetch", FrameBytes(kind: 1)) : ("epochQuery", FrameBytes(kind: 3))
            frame.i64(view.epochCeiling.map { min($0, 1) } ?? 1)
            if name == "fetch" {
                frame.u64(view.endOffset)
                frame.u32(1024)
                frame.u32(0)
                frame.string(Array("fuzz".utf8))
            }
            if chance(2) { frame.body.append(0) } else { frame.body.removeLast(1 + below(frame.body.count - 1)) }
            return (name + " with its fields cut or a byte too many", frame)
        }
    }

    /// A framed request damaged: bits flipped, cut, its length prefix lying, bytes appended or
    /// spliced in, its kind changed.
    mutating func mutate(_ framed: [UInt8]) -> (name: String, bytes: [UInt8]) {
        var bytes = framed
        switch below(7) {
        case 0:
            for _ in 0..<(1 + below(8)) where bytes.count > 4 {
                let index = 4 + below(bytes.count - 4)
                bytes[index] ^= UInt8(1) << UInt8(below(8))
            }
            return ("bits flipped", bytes)
        case 1:
            // Cut short; the prefix still claims the whole body (the server waits for the rest).
            return ("cut, prefix claims more", Array(bytes.prefix(below(bytes.count))))
        case 2:
            var body = Array(bytes.dropFirst(4))
            body.removeLast(below(body.count))
            return ("cut, prefix honest", FrameBytes(body: body).framed)
        case 3:
            let body = Array(bytes.dropFirst(4))
            let lie = pick([
                UInt32(0), 1, UInt32(body.count) &+ 1, UInt32(body.count) &- 1, UInt32(ReplicationMessage.maxRequestBytes),
                UInt32(ReplicationMessage.maxRequestBytes) + 1, UInt32(ReplicationMessage.maxFrameBytes), .max,
            ])
            return ("length prefix lies", FrameBytes.prefix(lie) + body)
        case 4:
            return ("bytes appended", FrameBytes(body: Array(bytes.dropFirst(4)) + garbage(1 + below(64))).framed)
        case 5:
            var body = Array(bytes.dropFirst(4))
            body.insert(contentsOf: garbage(1 + below(16)), at: below(body.count + 1))
            return ("bytes spliced in", FrameBytes(body: body).framed)
        default:
            var body = Array(bytes.dropFirst(4))
            if body.isEmpty { body = [0] }
            body[0] = UInt8(truncatingIfNeeded: next())
            return ("kind changed", FrameBytes(body: body).framed)
        }
    }

    /// Bytes with no frame structure, or a frame whose body is random.
    mutating func randomBytes() -> (name: String, bytes: [UInt8]) {
        if chance(2) { return ("random bytes", garbage(1 + below(512))) }
        return ("random body", FrameBytes(body: garbage(below(256))).framed)
    }
}
