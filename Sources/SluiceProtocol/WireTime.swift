import SluiceWire
import SwiftProtobuf

/// Client-sent times turned into milliseconds with checked arithmetic: the only door through
/// which a `Timestamp` or `Duration` from the wire becomes a number the broker computes with.
///
/// Protobuf's own rules bound both types (`google/protobuf/timestamp.proto`: 0001-01-01 to
/// 9999-12-31, nanos 0 to 999,999,999; `duration.proto`: ±10,000 years, nanos of the same sign
/// and under one second). A value outside them is refused with the caller's code and a message
/// naming the field and the value, so nothing deeper can overflow (issue 11: a `born_timestamp`
/// near `Int64.max` used to trap in `seconds * 1000`).
enum WireTime {
    /// `0001-01-01T00:00:00Z` and `9999-12-31T23:59:59Z` in Unix seconds (timestamp.proto).
    static let timestampSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799
    /// About ±10,000 years (duration.proto).
    static let durationSeconds: ClosedRange<Int64> = -315_576_000_000...315_576_000_000
    static let nanosPerMillisecond: Int32 = 1_000_000

    /// Milliseconds since the epoch of a client's timestamp.
    ///
    /// - Throws: `code` naming `field` when the seconds or nanos are outside protobuf's range.
    static func milliseconds(
        _ timestamp: Google_Protobuf_Timestamp, field: String, code: Apache_Rocketmq_V2_Code
    ) throws(ProtocolRefusal) -> Int64 {
        guard timestampSeconds.contains(timestamp.seconds) else {
            throw ProtocolRefusal(
                code,
                "\(field).seconds is \(timestamp.seconds); a timestamp is \(timestampSeconds.lowerBound) to "
                    + "\(timestampSeconds.upperBound) seconds (years 1 to 9999)")
        }
        guard (0..<1_000_000_000).contains(timestamp.nanos) else {
            throw ProtocolRefusal(code, "\(field).nanos is \(timestamp.nanos); it must be 0 to 999999999")
        }
        return try combine(timestamp.seconds, timestamp.nanos, field: field, code: code)
    }

    /// Milliseconds of a client's duration (negative durations come back negative; callers check
    /// their own range).
    ///
    /// - Throws: `code` naming `field` when the seconds or nanos are outside protobuf's range or
    ///   their signs disagree.
    static func milliseconds(
        _ duration: Google_Protobuf_Duration, field: String, code: Apache_Rocketmq_V2_Code
    ) throws(ProtocolRefusal) -> Int64 {
        guard durationSeconds.contains(duration.seconds) else {
            throw ProtocolRefusal(
                code, "\(field).seconds is \(duration.seconds); a duration is at most ±315576000000 seconds")
        }
        guard (-999_999_999...999_999_999).contains(duration.nanos) else {
            throw ProtocolRefusal(code, "\(field).nanos is \(duration.nanos); it must be -999999999 to 999999999")
        }
        if (duration.seconds > 0 && duration.nanos < 0) || (duration.seconds < 0 && duration.nanos > 0) {
            throw ProtocolRefusal(
                code, "\(field) has seconds \(duration.seconds) and nanos \(duration.nanos) of opposite signs")
        }
        return try combine(duration.seconds, duration.nanos, field: field, code: code)
    }

    /// `seconds * 1000 + nanos / 1e6`, checked (the ranges above keep it far from overflow; the
    /// check keeps that true if they ever change).
    private static func combine(
        _ seconds: Int64, _ nanos: Int32, field: String, code: Apache_Rocketmq_V2_Code
    ) throws(ProtocolRefusal) -> Int64 {
        let (scaled, overflowMultiply) = seconds.multipliedReportingOverflow(by: 1000)
        let (total, overflowAdd) = scaled.addingReportingOverflow(Int64(nanos / nanosPerMillisecond))
        if overflowMultiply || overflowAdd {
            throw ProtocolRefusal(code, "\(field) does not fit in 64-bit milliseconds")
        }
        return total
    }

    /// A timestamp for milliseconds since the epoch, with nanos in range even before 1970 (floor
    /// division), as protobuf requires. Never traps for any `Int64`.
    static func timestamp(ms: Int64) -> Google_Protobuf_Timestamp {
        var seconds = ms / 1000
        var remainder = ms % 1000
        if remainder < 0 {
            seconds -= 1
            remainder += 1000
        }
        var timestamp = Google_Protobuf_Timestamp()
        timestamp.seconds = seconds
        timestamp.nanos = Int32(remainder) * nanosPerMillisecond
        return timestamp
    }

    /// A duration of `ms` milliseconds (`ms` from the broker's own settings, never trapping).
    static func duration(ms: Int64) -> Google_Protobuf_Duration {
        Google_Protobuf_Duration(seconds: ms / 1000, nanos: Int32(ms % 1000) * nanosPerMillisecond)
    }
}
