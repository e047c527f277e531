import Crypto

/// An access key and secret, as the official clients' `Credentials(ak, sk)`: every call carries
/// RocketMQ 5's ACL 2.0 headers, `x-mq-date-time` and `authorization: MQv2-HMAC-SHA1
/// Credential=<accessKey>, SignedHeaders=x-mq-date-time, Signature=<hex HMAC-SHA1(secret, date-time)>`.
public struct ClientCredentials: Sendable, Hashable {
    public var accessKey: String
    public var secretKey: String
    /// A session token from a temporary credential (sent as `x-mq-session-token`), if any.
    public var securityToken: String?

    public init(accessKey: String, secretKey: String, securityToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.securityToken = securityToken
    }

    /// The `x-mq-date-time` value for `epochSeconds`: `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func dateTime(epochSeconds: Int64) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secondOfDay = epochSeconds - days * 86_400
        // Civil from days (Howard Hinnant's algorithm), proleptic Gregorian calendar.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func digits(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(year, 4) + digits(month, 2) + digits(day, 2) + "T"
            + digits(secondOfDay / 3600, 2) + digits(secondOfDay % 3600 / 60, 2) + digits(secondOfDay % 60, 2) + "Z"
    }

    /// The hex HMAC-SHA1 of `dateTime` under the secret key.
    func signature(dateTime: String) -> String {
        let code = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(dateTime.utf8), using: SymmetricKey(data: Array(secretKey.utf8)))
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(Insecure.SHA1.byteCount * 2)
        for byte in code {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The `authorization` header value for a request stamped `dateTime`.
    func authorization(dateTime: String) -> String {
        "MQv2-HMAC-SHA1 Credential=\(accessKey), SignedHeaders=x-mq-date-time, Signature=\(signature(dateTime: dateTime))"
    }
}
