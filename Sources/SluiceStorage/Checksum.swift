import CSluiceShims
import NIOCore

/// CRC-32C over record bytes (hardware instruction where present).
enum Checksum {
    static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        sluice_crc32c(0, bytes.baseAddress, bytes.count)
    }

    static func crc32c(_ string: String) -> UInt32 {
        var copy = string
        return copy.withUTF8 { sluice_crc32c(0, $0.baseAddress, $0.count) }
    }

    static var isHardwareAccelerated: Bool { sluice_crc32c_is_hardware() != 0 }
}

extension String {
    /// The 32-bit hash the queue index keeps per entry so tag filters can skip records without
    /// reading them; 0 means "no tag".
    public var sluiceTagHash: UInt32 { isEmpty ? 0 : Checksum.crc32c(self) | 1 }
}
