import Foundation
import SluiceTesting
import SwiftProtobuf

/// Edge values a hostile client would try: 0, -1, the min and max of every integer type, nanos
/// out of range, empty, huge and binary strings. Mostly plausible values, so requests also get
/// past the first check and reach deeper code.
struct FuzzValues {
    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { random.next() }
    mutating func below(_ bound: Int) -> Int { Int(random.next() % UInt64(max(1, bound))) }
    mutating func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }

    static let int64Edges: [Int64] = [
        0, -1, 1, .min, .max, .min + 1, .max - 1, Int64(Int32.min), Int64(Int32.max), Int64(UInt32.max),
        1_000_000_000, -1_000_000_000, 253_402_300_799, 253_402_300_800, -62_135_596_801, 315_576_000_001,
        100_000_000_001, 9_223_372_036_854_775,
    ]
    static let int32Edges: [Int32] = [0, -1, 1, .min, .max, 999_999_999, 1_000_000_000, -999_999_999, -1_000_000_000]

    mutating func int64(plausible: ClosedRange<Int64> = 0...1000) -> Int64 {
        switch below(4) {
        case 0: Self.int64Edges[below(Self.int64Edges.count)]
        case 1: Int64(bitPattern: next())
        default: Int64.random(in: plausible, using: &random)
        }
    }

    mutating func int32(plausible: ClosedRange<Int32> = 0...100) -> Int32 {
        switch below(4) {
        case 0: Self.int32Edges[below(Self.int32Edges.count)]
        case 1: Int32(truncatingIfNeeded: next())
        default: Int32.random(in: plausible, using: &random)
        }
    }

    mutating func timestamp(plausibleMs: Int64) -> Google_Protobuf_Timestamp {
        if chance(2) {
            return Google_Protobuf_Timestamp(seconds: plausibleMs / 1000, nanos: Int32(plausibleMs % 1000) * 1_000_000)
        }
        return Google_Protobuf_Timestamp(seconds: int64(), nanos: int32(plausible: 0...999_999_999))
    }

    mutating func duration(plausibleSeconds: ClosedRange<Int64> = 0...60) -> Google_Protobuf_Duration {
        Google_Protobuf_Duration(seconds: int64(plausible: plausibleSeconds), nanos: int32(plausible: 0...999_999_999))
    }

    /// Empty, short, long (up to 64 KiB), huge (up to 1 MiB, rarely), with control characters,
    /// NULs, emoji and invalid-looking escapes.
    mutating func string(plausible: [String] = []) -> String {
        switch below(12) {
        case 0: return ""
        case 1: return chance(4) ? String(repeating: "x", count: 256 + below(64 * 1024)) : String(repeating: "x", count: 256 + below(1024))
        case 2: return chance(64) ? String(repeating: "y", count: 1 << 20) : String(repeating: "%", count: below(300))
        case 3, 4: return garbage(maxScalars: 64)
        default:
            if !plausible.isEmpty { return plausible[below(plausible.count)] }
            return garbage(maxScalars: 16)
        }
    }

    mutating func garbage(maxScalars: Int) -> String {
        let pool: [Unicode.Scalar] = ["a", "Z", "0", "_", "-", "%", "|", " ", "\u{0}", "\u{1}", "\u{7F}", "\u{85}", "é", "😀", "\u{FEFF}", "\u{202E}", "/", "\\", "'", "\""]
        var text = String.UnicodeScalarView()
        for _ in 0..<below(maxScalars + 1) {
            if chance(4), let scalar = Unicode.Scalar(UInt32(below(0x11_0000))) { text.append(scalar) }
            else { text.append(pool[below(pool.count)]) }
        }
        return String(text)
    }

    mutating func bytes(max: Int) -> Data {
        Data((0..<below(max + 1)).map { _ in UInt8(truncatingIfNeeded: next()) })
    }

    /// A serialized message damaged: truncated, bytes flipped, garbage appended or inserted.
    mutating func mangle(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        switch below(4) {
        case 0: bytes = Array(bytes.prefix(below(bytes.count + 1)))
        case 1:
            for _ in 0..<(1 + below(8)) where !bytes.isEmpty { bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: next()) }
        case 2: bytes += (0..<below(64)).map { _ in UInt8(truncatingIfNeeded: next()) }
        default: bytes = (0..<below(512)).map { _ in UInt8(truncatingIfNeeded: next()) }
        }
        return bytes
    }
}
