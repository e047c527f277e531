/// The RocketMQ HTTP SDK's request signature (`MQClient.get_signature` in mq-http-sdk 1.0.3):
///
///     Authorization: MQ <AccessId>:<base64(HMAC-SHA1(AccessKey, StringToSign))>
///     StringToSign = Method \n Content-MD5 \n Content-Type \n Date \n CanonicalizedMQHeaders Resource
///
/// where CanonicalizedMQHeaders is each `x-mq-*` header as `name:value\n`, names lower-cased and
/// sorted, and Resource is the request target as sent (path and query string, not decoded).
public struct RequestSignature: Sendable, Equatable {
    public var accessId: String
    public var signature: [UInt8]

    public static let scheme = "MQ "
    /// Longest Authorization header read (an id and a 28-character signature fit many times).
    public static let maxHeaderBytes = 1024

    public init(accessId: String, signature: [UInt8]) {
        self.accessId = accessId
        self.signature = signature
    }

    /// Parses `MQ id:signature`.
    /// - Throws: `.malformed` for another scheme, no ':', an empty id, or a signature that is
    ///   empty or not base64; `.tooLarge` past `maxHeaderBytes`.
    public static func parse(authorization: String) throws(HTTPWireError) -> RequestSignature {
        guard authorization.utf8.count <= maxHeaderBytes else {
            throw HTTPWireError(.tooLarge, "the Authorization header is over \(maxHeaderBytes) bytes")
        }
        guard authorization.hasPrefix(scheme) else {
            throw HTTPWireError(.malformed, "the Authorization header must be 'MQ AccessId:Signature'")
        }
        let credential = authorization.dropFirst(scheme.count)
        guard let colon = credential.lastIndex(of: ":") else {
            throw HTTPWireError(.malformed, "the Authorization header must be 'MQ AccessId:Signature'")
        }
        let accessId = String(credential[..<colon])
        guard !accessId.isEmpty else { throw HTTPWireError(.malformed, "the Authorization header names no access id") }
        guard let signature = Base64.decode(credential[credential.index(after: colon)...]) else {
            throw HTTPWireError(.malformed, "the signature in the Authorization header is not base64")
        }
        // Found by the fuzzer: `MQ ak:` parsed, and only failed later as a wrong signature.
        guard !signature.isEmpty else { throw HTTPWireError(.malformed, "the Authorization header carries no signature") }
        return RequestSignature(accessId: accessId, signature: signature)
    }

    /// The bytes the client signed.
    /// - Parameter headers: every request header as (name, value); only `x-mq-*` ones are used.
    public static func stringToSign(
        method: String, contentMD5: String, contentType: String, date: String, headers: [(name: String, value: String)],
        resource: String
    ) -> [UInt8] {
        var mqHeaders = headers.map { (name: $0.name.lowercased(), value: $0.value) }.filter { $0.name.hasPrefix("x-mq-") }
        mqHeaders.sort { $0.name < $1.name }
        var text = method + "\n" + contentMD5 + "\n" + contentType + "\n" + date + "\n"
        for header in mqHeaders { text += header.name + ":" + header.value + "\n" }
        text += resource
        return Array(text.utf8)
    }
}

/// Standard base64 (RFC 4648 §4) with padding, as Python's `base64.b64encode` writes it.
enum Base64 {
    static func decode(_ text: Substring) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 4 * 3)
        var chunk: UInt32 = 0
        var filled = 0
        var padding = 0
        for (offset, byte) in bytes.enumerated() {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                // Padding only in the last two places of the last group.
                guard offset >= bytes.count - 2 else { return nil }
                padding += 1
                value = 0
            default: return nil
            }
            if padding > 0, byte != UInt8(ascii: "=") { return nil }
            chunk = chunk << 6 | value
            filled += 1
            if filled == 4 {
                output.append(UInt8(truncatingIfNeeded: chunk >> 16))
                output.append(UInt8(truncatingIfNeeded: chunk >> 8))
                output.append(UInt8(truncatingIfNeeded: chunk))
                chunk = 0
                filled = 0
            }
        }
        output.removeLast(padding)
        return output
    }
}
