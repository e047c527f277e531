import Foundation
import Synchronization

/// Identifiers a client puts on the wire: its client id (`x-mq-client-id`, how the broker routes
/// check-backs to it) and the message ids it generates.
enum ClientIdentity {
    private static let instanceCounter = Atomic<Int>(0)
    private static let messageCounter = Atomic<UInt32>(0)

    /// `hostname@pid@index@base36(nanoseconds)`, the shape the official clients use.
    static func makeClientID() -> String {
        let index = instanceCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let nanos = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        return "\(host)@\(pid)@\(index)@\(String(nanos, radix: 36))"
    }

    /// Six random bytes standing in for the MAC address the official clients use: unique enough
    /// per process together with the pid, time and counter.
    private static let processBytes: [UInt8] = (0..<6).map { _ in UInt8.random(in: 0...255) }

    /// 34 uppercase hex digits: version `01`, 6 process bytes, pid (2 bytes), seconds since
    /// 2021-01-01 (4 bytes), a counter (4 bytes) — the layout of the official clients' ids.
    static func makeMessageID(now: Date = Date()) -> String {
        var bytes: [UInt8] = [0x01] + processBytes
        let pid = UInt16(truncatingIfNeeded: ProcessInfo.processInfo.processIdentifier)
        bytes += [UInt8(pid >> 8), UInt8(pid & 0xff)]
        let epoch2021: TimeInterval = 1_609_459_200
        let seconds = UInt32(truncatingIfNeeded: Int64(max(0, now.timeIntervalSince1970 - epoch2021)))
        bytes += withUnsafeBytes(of: seconds.bigEndian, Array.init)
        let counter = messageCounter.wrappingAdd(1, ordering: .relaxed).newValue
        bytes += withUnsafeBytes(of: counter.bigEndian, Array.init)
        return bytes.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    static var hostAddress: String { "127.0.0.1" }
}
