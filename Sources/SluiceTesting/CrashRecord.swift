import NIOCore
import SluiceStorage

/// A record whose every byte follows from (run, writer, sequence): the crash tests' child
/// appends it and the parent re-derives it to check what survived, byte for byte.
public struct CrashRecord: Sendable {
    public let messageId: String
    public let queueId: UInt32
    public let bodyLength: Int
    public let message: MessageRecord

    public init(run: Int, writer: Int, sequence: Int, queues: Int) {
        messageId = "R\(run)W\(writer)S\(sequence)"
        var hasher = SplitMix64(seed: UInt64(run) << 40 ^ UInt64(writer) << 32 ^ UInt64(sequence))
        queueId = UInt32(hasher.next() % UInt64(queues))
        bodyLength = Int(hasher.next() % 3000) + 1
        var body = ByteBuffer()
        body.reserveCapacity(bodyLength)
        var remaining = bodyLength
        while remaining >= 8 {
            body.writeInteger(hasher.next(), endianness: .little)
            remaining -= 8
        }
        for _ in 0..<remaining { body.writeInteger(UInt8(truncatingIfNeeded: hasher.next())) }
        message = MessageRecord(
            topic: "crash", queueId: queueId, messageId: messageId, tags: "w\(writer)", keys: ["k\(sequence % 97)"],
            properties: [("writer", "\(writer)")], body: body, bornTimestampMs: Int64(sequence))
    }
}

/// A tiny deterministic generator (SplitMix64) so parent and child derive the same bytes.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
