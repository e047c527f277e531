import Crypto

/// Authentication for the HTTP access front (`SluiceHTTPAccess`): the RocketMQ HTTP SDK signs
/// each request with `Authorization: MQ AccessId:Signature`, where the signature is
/// base64(HMAC-SHA1(secret, string-to-sign)). The front builds the string to sign from the
/// request (method, Content-MD5, Content-Type, Date, `x-mq-*` headers, resource); this checks it
/// against the same users and secrets as the gRPC front's `MQv2-HMAC-SHA1`.
extension AccessControl {
    /// One signed HTTP request, as the front parsed it.
    public struct HTTPSignature: Sendable {
        public var accessKey: String
        /// The decoded signature (20 bytes for HMAC-SHA1; any other length fails to verify).
        public var signature: [UInt8]
        /// The exact bytes the client signed.
        public var stringToSign: [UInt8]
        /// The request's `Date` header as seconds since the epoch; nil when absent or unreadable.
        public var dateSeconds: Int64?

        public init(accessKey: String, signature: [UInt8], stringToSign: [UInt8], dateSeconds: Int64?) {
            self.accessKey = accessKey
            self.signature = signature
            self.stringToSign = stringToSign
            self.dateSeconds = dateSeconds
        }
    }

    /// Who signed the HTTP request: its access key, or nil when authentication is off.
    ///
    /// - Parameter signed: nil when the request carried no `Authorization` header.
    /// - Throws: `AccessDenial` with `.anonymous` (no header), `.malformed` (no readable Date
    ///   header), `.clockSkew`, `.unknownUser` or `.badSignature`; compared in constant time.
    public func authenticateHTTP(_ signed: HTTPSignature?) throws(AccessDenial) -> String? {
        guard configuration.enabled else { return nil }
        guard let signed else {
            throw AccessDenial(
                .anonymous, "authentication is required: sign requests with an access id and key (MQClient(host, id, key))")
        }
        guard let store = store() else {
            throw AccessDenial(.notReady, "the broker is still starting (opening its user table); retry shortly")
        }
        if let skew = configuration.maxClockSkew {
            guard let seconds = signed.dateSeconds else {
                throw AccessDenial(
                    .malformed, "the Date header is missing or not an RFC 1123 date", accessKey: signed.accessKey)
            }
            // Both sides are dates within a few thousand years of 1970: no overflow.
            guard abs(seconds - nowSeconds()) <= skew.components.seconds else {
                throw AccessDenial(
                    .clockSkew, "the Date header is more than \(DurationText.format(skew)) from the broker's clock",
                    accessKey: signed.accessKey)
            }
        }
        guard let key = store.snapshot.key(of: signed.accessKey) else {
            throw AccessDenial(.unknownUser, "unknown access key \(signed.accessKey)", accessKey: signed.accessKey)
        }
        guard HMAC<Insecure.SHA1>.isValidAuthenticationCode(signed.signature, authenticating: signed.stringToSign, using: key)
        else {
            throw AccessDenial(
                .badSignature, "the signature does not match access key \(signed.accessKey)'s secret key",
                accessKey: signed.accessKey)
        }
        return signed.accessKey
    }
}
