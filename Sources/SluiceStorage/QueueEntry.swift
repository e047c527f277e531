/// One entry of a per-queue index: where the queue's n-th message lives in the commit log.
///
/// On disk: 24 bytes, little-endian: u64 physical offset, u32 record size, u32 tag hash,
/// i64 store time (ms). A size of 0 marks the unwritten end of a preallocated file; a size of
/// `UInt32.max` marks an offset whose record was lost to damage (readers skip it).
public struct QueueEntry: Sendable, Hashable {
    public var queueOffset: UInt64
    public var physicalOffset: UInt64
    public var size: UInt32
    public var tagHash: UInt32
    public var storeTimestampMs: Int64

    public var isLost: Bool { size == QueueEntry.lostMarker }

    static let byteCount = 24
    static let lostMarker = UInt32.max

    public init(queueOffset: UInt64, physicalOffset: UInt64, size: UInt32, tagHash: UInt32, storeTimestampMs: Int64) {
        self.queueOffset = queueOffset
        self.physicalOffset = physicalOffset
        self.size = size
        self.tagHash = tagHash
        self.storeTimestampMs = storeTimestampMs
    }
}

/// A topic and one of its queues.
public struct QueueID: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var queueId: UInt32

    public init(topic: String, queueId: UInt32) {
        self.topic = topic
        self.queueId = queueId
    }

    public var description: String { "\(topic)#\(queueId)" }

    /// A file-name-safe spelling of the topic: `[A-Za-z0-9_%|-]` kept, every other byte `+XX`.
    var escapedTopic: String {
        var result = ""
        for byte in topic.utf8 {
            let scalar = Unicode.Scalar(byte)
            if (byte < 0x80 && (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar))))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "%")
                || byte == UInt8(ascii: "|")
            {
                result.unicodeScalars.append(scalar)
            } else {
                let digits = String(byte, radix: 16, uppercase: true)
                result += "+" + (digits.count == 1 ? "0" : "") + digits
            }
        }
        return result
    }

    static func unescapeTopic(_ escaped: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(escaped.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
