import NIOCore

/// Encodes records for the writer and decodes them for readers and recovery.
enum RecordCodec {
    /// Encodes `record` with placeholders for the fields the writer assigns (physical offset, queue
    /// offset, store time, CRC, secondary queue offset) and returns where the secondary queue
    /// offset sits. Runs on the caller's task, so the writer thread only patches.
    /// `tagHash` is `record.tags.sluiceTagHash`, passed in because the caller needs it too.
    /// - Throws: `.invalidArgument` naming the field and its limit.
    static func encodeWithSecondary(
        _ record: MessageRecord, messageId: String, tagHash: UInt32, allocator: ByteBufferAllocator
    ) throws(StorageError) -> (buffer: ByteBuffer, secondaryOffsetPosition: Int?) {
        try validate(record, messageId: messageId)
        var size = RecordFormat.headerSize + 2 + record.topic.utf8.count + 2 + record.tags.utf8.count
        size += 2 + messageId.utf8.count + 2 + 2
        for key in record.keys { size += 2 + key.utf8.count }
        if let secondary = record.secondaryQueue { size += 2 + secondary.topic.utf8.count + 4 + 8 }
        for (name, value) in record.properties { size += 2 + name.utf8.count + 4 + value.utf8.count }
        size += 4 + record.body.readableBytes

        var buffer = allocator.buffer(capacity: size)
        buffer.writeInteger(RecordFormat.magic, endianness: .little)
        buffer.writeInteger(UInt32(size), endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)
        buffer.writeInteger(RecordFormat.version)
        buffer.writeInteger(record.messageType)
        let flags = record.secondaryQueue == nil ? record.flags : record.flags | RecordFormat.secondaryQueueFlag
        buffer.writeInteger(flags, endianness: .little)
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(record.queueId, endianness: .little)
        buffer.writeInteger(tagHash, endianness: .little)
        buffer.writeInteger(record.bornTimestampMs, endianness: .little)
        buffer.writeInteger(Int64(0), endianness: .little)
        writeShortString(record.topic, into: &buffer)
        writeShortString(record.tags, into: &buffer)
        writeShortString(messageId, into: &buffer)
        buffer.writeInteger(UInt16(record.keys.count), endianness: .little)
        for key in record.keys { writeShortString(key, into: &buffer) }
        var secondaryOffsetPosition: Int?
        if let secondary = record.secondaryQueue {
            writeShortString(secondary.topic, into: &buffer)
            buffer.writeInteger(secondary.queueId, endianness: .little)
            secondaryOffsetPosition = buffer.writerIndex
            buffer.writeInteger(UInt64(0), endianness: .little)
        }
        buffer.writeInteger(UInt16(record.properties.count), endianness: .little)
        for (name, value) in record.properties {
            writeShortString(name, into: &buffer)
            buffer.writeInteger(UInt32(value.utf8.count), endianness: .little)
            buffer.writeString(value)
        }
        buffer.writeInteger(UInt32(record.body.readableBytes), endianness: .little)
        var body = record.body
        buffer.writeBuffer(&body)
        assert(buffer.readableBytes == size)
        return (buffer, secondaryOffsetPosition)
    }

    private static func validate(_ record: MessageRecord, messageId: String) throws(StorageError) {
        func check(_ value: String, _ field: String) throws(StorageError) {
            let count = value.utf8.count
            if count > RecordFormat.maxStringBytes {
                throw StorageError(.invalidArgument, "\(field) is \(count) bytes; limit \(RecordFormat.maxStringBytes)")
            }
        }
        if record.topic.isEmpty { throw StorageError(.invalidArgument, "topic is empty") }
        if let secondary = record.secondaryQueue {
            if secondary.topic == record.topic && secondary.queueId == record.queueId {
                throw StorageError(.invalidArgument, "secondary queue \(secondary) is the record's own queue")
            }
            if secondary.topic.isEmpty { throw StorageError(.invalidArgument, "secondary queue topic is empty") }
            try check(secondary.topic, "secondary queue topic")
        }
        try check(record.topic, "topic")
        try check(record.tags, "tags")
        try check(messageId, "message id")
        if record.keys.count > RecordFormat.maxKeys {
            throw StorageError(.invalidArgument, "\(record.keys.count) keys; limit \(RecordFormat.maxKeys)")
        }
        for key in record.keys { try check(key, "key") }
        if record.properties.count > RecordFormat.maxProperties {
            throw StorageError(
                .invalidArgument, "\(record.properties.count) properties; limit \(RecordFormat.maxProperties)")
        }
        for (name, _) in record.properties { try check(name, "property name") }
    }

    private static func writeShortString(_ value: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(value.utf8.count), endianness: .little)
        buffer.writeString(value)
    }

    /// Fills in the writer-assigned fields and the checksum, in place.
    static func seal(
        _ bytes: UnsafeMutableRawBufferPointer, physicalOffset: UInt64, queueOffset: UInt64, storeTimestampMs: Int64,
        secondary: (position: Int, offset: UInt64)? = nil
    ) {
        if let secondary {
            bytes.storeBytes(of: secondary.offset.littleEndian, toByteOffset: secondary.position, as: UInt64.self)
        }
        bytes.storeBytes(of: physicalOffset.littleEndian, toByteOffset: RecordFormat.Field.physicalOffset, as: UInt64.self)
        bytes.storeBytes(of: queueOffset.littleEndian, toByteOffset: RecordFormat.Field.queueOffset, as: UInt64.self)
        bytes.storeBytes(of: storeTimestampMs.littleEndian, toByteOffset: RecordFormat.Field.storeTimestamp, as: Int64.self)
        let crc = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: bytes[RecordFormat.checksummedFrom...]))
        bytes.storeBytes(of: crc.littleEndian, toByteOffset: RecordFormat.Field.crc, as: UInt32.self)
    }

    // MARK: reading

    /// What lies at a position of a segment.
    enum Frame {
        /// A record that passed every check; `header` has what the indexes need.
        case record(RecordHeader)
        /// Filler to the end of the segment.
        case blank(size: Int)
        /// Zero bytes, or fewer than 8 left: the written part of this segment ends here.
        case end
        /// Something that is not a valid record; `reason` says which check failed.
        case corrupt(reason: String)
    }

    /// Checks framing, size, version, self-offset and CRC of the record at `position` (relative to
    /// `bytes`), without copying it.
    static func frame(in bytes: UnsafeRawBufferPointer, at position: Int, physicalOffset: UInt64) -> Frame {
        let remaining = bytes.count - position
        if remaining < RecordFormat.blankHeaderSize { return .end }
        let magic = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        let size = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
        if magic == 0 && size == 0 { return .end }
        if magic == RecordFormat.blankMagic {
            return size == remaining ? .blank(size: size) : .corrupt(reason: "blank filler of \(size) bytes, \(remaining) left")
        }
        if magic != RecordFormat.magic { return .corrupt(reason: "bad magic 0x\(String(magic, radix: 16))") }
        if size < RecordFormat.headerSize || size > remaining {
            return .corrupt(reason: "record size \(size) outside [\(RecordFormat.headerSize), \(remaining)]")
        }
        let record = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + size)])
        let stored = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: RecordFormat.Field.crc, as: UInt32.self))
        let computed = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: record[RecordFormat.checksummedFrom...]))
        if stored != computed {
            return .corrupt(reason: "CRC-32C mismatch: stored \(hex(stored)), computed \(hex(computed))")
        }
        guard let header = RecordHeader(record) else { return .corrupt(reason: "malformed variable fields") }
        if header.version != RecordFormat.version { return .corrupt(reason: "unknown format version \(header.version)") }
        if header.physicalOffset != physicalOffset {
            return .corrupt(reason: "record claims offset \(header.physicalOffset), found at \(physicalOffset)")
        }
        return .record(header)
    }

    /// Decodes a whole record (already verified by `frame`) into a `StoredRecord`, copying the body
    /// once out of the mapping.
    static func decode(_ record: UnsafeRawBufferPointer, header: RecordHeader, allocator: ByteBufferAllocator)
        -> StoredRecord?
    {
        var reader = ByteReader(record, position: header.propertiesStart)
        guard let propertyCount = reader.u16() else { return nil }
        var properties: [(String, String)] = []
        properties.reserveCapacity(Int(propertyCount))
        for _ in 0..<propertyCount {
            guard let name = reader.string16(), let value = reader.string32() else { return nil }
            properties.append((name, value))
        }
        guard let bodyLength = reader.u32(), let bodyBytes = reader.bytes(Int(bodyLength)) else { return nil }
        var body = allocator.buffer(capacity: bodyBytes.count)
        body.writeBytes(bodyBytes)
        let message = MessageRecord(
            topic: header.topic, queueId: header.queueId, messageId: header.messageId, tags: header.tags,
            keys: header.keys, properties: properties, body: body, bornTimestampMs: header.bornTimestampMs,
            messageType: header.messageType, flags: header.flags, secondaryQueue: header.secondaryQueue)
        return StoredRecord(
            message: message, physicalOffset: header.physicalOffset, queueOffset: header.queueOffset,
            storeTimestampMs: header.storeTimestampMs, size: header.size, secondaryQueueOffset: header.secondaryQueueOffset)
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// The fixed header plus the small variable fields the indexes need (no properties, no body).
struct RecordHeader: Sendable {
    var size: Int
    var version: UInt8
    var messageType: UInt8
    var flags: UInt16
    var physicalOffset: UInt64
    var queueOffset: UInt64
    var queueId: UInt32
    var tagHash: UInt32
    var bornTimestampMs: Int64
    var storeTimestampMs: Int64
    var topic: String
    var tags: String
    var messageId: String
    var keys: [String]
    var secondaryQueue: QueueID?
    var secondaryQueueOffset: UInt64?
    /// Where the property count starts, relative to the record.
    var propertiesStart: Int

    init?(_ record: UnsafeRawBufferPointer) {
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        size = Int(load(RecordFormat.Field.size, UInt32.self))
        version = load(RecordFormat.Field.version, UInt8.self)
        messageType = load(RecordFormat.Field.messageType, UInt8.self)
        flags = load(RecordFormat.Field.flags, UInt16.self)
        physicalOffset = load(RecordFormat.Field.physicalOffset, UInt64.self)
        queueOffset = load(RecordFormat.Field.queueOffset, UInt64.self)
        queueId = load(RecordFormat.Field.queueId, UInt32.self)
        tagHash = load(RecordFormat.Field.tagHash, UInt32.self)
        bornTimestampMs = load(RecordFormat.Field.bornTimestamp, Int64.self)
        storeTimestampMs = load(RecordFormat.Field.storeTimestamp, Int64.self)
        var reader = ByteReader(record, position: RecordFormat.headerSize)
        guard let topic = reader.string16(), let tags = reader.string16(), let messageId = reader.string16(),
            let keyCount = reader.u16()
        else { return nil }
        var keys: [String] = []
        for _ in 0..<keyCount {
            guard let key = reader.string16() else { return nil }
            keys.append(key)
        }
        self.topic = topic
        self.tags = tags
        self.messageId = messageId
        self.keys = keys
        if flags & RecordFormat.secondaryQueueFlag != 0 {
            guard let topic = reader.string16(), let queueId = reader.integer(UInt32.self),
                let offset = reader.integer(UInt64.self)
            else { return nil }
            secondaryQueue = QueueID(topic: topic, queueId: queueId)
            secondaryQueueOffset = offset
        }
        self.propertiesStart = reader.position
    }
}

/// Bounds-checked little-endian reads over a record.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int

    init(_ bytes: UnsafeRawBufferPointer, position: Int) {
        self.bytes = bytes
        self.position = position
    }

    mutating func u16() -> UInt16? { integer(UInt16.self) }
    mutating func u32() -> UInt32? { integer(UInt32.self) }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard position + MemoryLayout<T>.size <= bytes.count else { return nil }
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, position + count <= bytes.count else { return nil }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    mutating func string16() -> String? {
        guard let length = u16(), let raw = bytes(Int(length)) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func string32() -> String? {
        guard let length = u32(), let raw = bytes(Int(length)) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }
}
