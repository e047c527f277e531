/// The byte layout of a commit-log record (all integers little-endian). See docs/architecture.md.
///
/// ```
///  0 u32 magic "SLRC"          4 u32 total size (header included)
///  8 u32 CRC-32C of bytes [12, size)
/// 12 u8  format version (1)   13 u8 message type      14 u16 flags
/// 16 u64 physical offset (the record's own position: a stale record elsewhere cannot pass)
/// 24 u64 queue offset         32 u32 queue id          36 u32 tag hash
/// 40 i64 born time (ms)       48 i64 store time (ms)
/// 56 topic (u16 len + UTF-8), tags (u16 + UTF-8), message id (u16 + UTF-8),
///    keys (u16 count, each u16 + UTF-8), [secondary queue: u16 + topic, u32 queue id,
///    u64 queue offset — only with flag bit 0x8000], properties (u16 count, each u16 key + u32 value),
///    body (u32 len + bytes)
/// ```
/// A blank record ("SLBK", u32 size) fills the unused end of a segment so no record straddles two
/// files; fewer than 8 bytes left at a segment's end are skipped without a blank.
enum RecordFormat {
    static let magic: UInt32 = 0x4352_4C53  // "SLRC" little-endian
    static let blankMagic: UInt32 = 0x4B42_4C53  // "SLBK"
    static let version: UInt8 = 1
    static let headerSize = 56
    static let blankHeaderSize = 8
    static let checksummedFrom = 12

    enum Field {
        static let magic = 0
        static let size = 4
        static let crc = 8
        static let version = 12
        static let messageType = 13
        static let flags = 14
        static let physicalOffset = 16
        static let queueOffset = 24
        static let queueId = 32
        static let tagHash = 36
        static let bornTimestamp = 40
        static let storeTimestamp = 48
    }

    /// The flags bit the store owns: a secondary queue (u16 topic, u32 queue id, u64 queue offset)
    /// follows the keys.
    static let secondaryQueueFlag: UInt16 = 0x8000

    static let maxStringBytes = Int(UInt16.max)
    static let maxKeys = 64
    static let maxProperties = 512
}
