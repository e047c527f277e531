import Crypto

/// The credentials a RocketMQ 5 client puts on every gRPC call (ACL 2.0, the official clients'
/// `Credentials(ak, sk)` / `SessionCredentials`):
///
///     authorization: MQv2-HMAC-SHA1 Credential=<accessKey>, SignedHeaders=x-mq-date-time, Signature=<hex>
///     x-mq-date-time: 20261204T174223Z
///
/// where the signature is the hex HMAC-SHA1 of the date-time text keyed with the secret key
/// (`rocketmq/v5/util/signature.py` in the Python client; RocketMQ's
/// `DefaultAuthenticationContextBuilder` reads it the same way).
public struct SignedRequest: Sendable, Hashable {
    public var accessKey: String
    /// The 20-byte HMAC the client sent, decoded from hex.
    public var signature: [UInt8]
    public var dateTime: String

    public static let scheme = "MQv2-HMAC-SHA1"
    /// The longest header looked at: a real one is about 120 bytes.
    public static let maximumHeaderBytes = 1024

    /// Why a header was refused; the message is safe to return to the client (no secret in it).
    public struct Malformed: Error, Sendable, Hashable {
        public var message: String
        /// The header names no access key: what the official clients send with empty
        /// `Credentials()`, so the caller is anonymous rather than confused.
        public var isAnonymous = false
    }

    /// Parses the `authorization` and `x-mq-date-time` values.
    /// - Throws: `Malformed` saying which part is missing or wrong.
    public static func parse(authorization: String, dateTime: String?) throws(Malformed) -> SignedRequest {
        guard authorization.utf8.count <= maximumHeaderBytes else {
            throw Malformed(message: "the authorization header is \(authorization.utf8.count) bytes; limit \(maximumHeaderBytes)")
        }
        guard authorization.hasPrefix(scheme + " ") else {
            throw Malformed(message: "the authorization header must start with '\(scheme) '")
        }
        var fields: [Substring: Substring] = [:]
        for part in authorization.dropFirst(scheme.count + 1).split(separator: ",") {
            let trimmed = part.drop { $0 == " " }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw Malformed(message: "the authorization header has a part without '=': '\(trimmed.prefix(32))'")
            }
            fields[trimmed[..<equals]] = trimmed[trimmed.index(after: equals)...]
        }
        guard let credential = fields["Credential"], !credential.isEmpty else {
            throw Malformed(message: "the authorization header has no Credential=<access key>", isAnonymous: true)
        }
        guard let signed = fields["SignedHeaders"], signed.lowercased() == "x-mq-date-time" else {
            throw Malformed(message: "the authorization header must sign exactly SignedHeaders=x-mq-date-time")
        }
        guard let hex = fields["Signature"], let signature = Self.decodeHex(hex), signature.count == Insecure.SHA1.byteCount
        else {
            throw Malformed(message: "the authorization header's Signature must be 40 hex digits (HMAC-SHA1)")
        }
        guard let dateTime, !dateTime.isEmpty else {
            throw Malformed(message: "the x-mq-date-time header the signature covers is missing")
        }
        // The access key may carry an "accessKey/..." scope in other SDKs; only the key is used.
        let accessKey = credential.split(separator: "/", maxSplits: 1).first.map(String.init) ?? String(credential)
        return SignedRequest(accessKey: accessKey, signature: signature, dateTime: dateTime)
    }

    /// True when `signature` is HMAC-SHA1(secret, dateTime). Compared in constant time.
    public func isSigned(with key: SymmetricKey) -> Bool {
        HMAC<Insecure.SHA1>.isValidAuthenticationCode(signature, authenticating: Array(dateTime.utf8), using: key)
    }

    /// The hex signature a client computes (for tests and tools).
    public static func sign(secret: String, dateTime: String) -> String {
        let code = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(dateTime.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    /// `x-mq-date-time` (`yyyyMMdd'T'HHmmss'Z'`) as seconds since the Unix epoch; nil when it
    /// does not have that shape or names an impossible date.
    public static func epochSeconds(of dateTime: String) -> Int64? {
        let bytes = Array(dateTime.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian calendar.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second
    }

    static func decodeHex(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0, utf8.count <= 128 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }
}
