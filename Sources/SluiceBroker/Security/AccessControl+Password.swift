import Crypto

/// Authentication for fronts whose clients send the secret itself (MQTT's CONNECT user name and
/// password, `SluiceMQTTAccess`): the user name is the access key, the password its secret key,
/// the same users as gRPC's `MQv2-HMAC-SHA1`. Only the secret's HMAC key is kept, so the
/// password is compared by MACing one fixed message with both keys, in constant time.
extension AccessControl {
    private static let passwordProbe = Array("sluice password check".utf8)

    /// Who the credentials name: the access key, or nil when authentication is off.
    /// - Throws: `AccessDenial` with `.anonymous` (no user name), `.notReady`, `.unknownUser` or
    ///   `.badSignature` (a password that is not the user's secret key).
    public func authenticatePassword(accessKey: String?, password: [UInt8]?) throws(AccessDenial) -> String? {
        guard configuration.enabled else { return nil }
        guard let accessKey, !accessKey.isEmpty else {
            throw AccessDenial(.anonymous, "authentication is required: connect with a user name (access key) and password (secret key)")
        }
        guard let store = store() else {
            throw AccessDenial(.notReady, "the broker is still starting (opening its user table); retry shortly")
        }
        guard let key = store.snapshot.key(of: accessKey) else {
            throw AccessDenial(.unknownUser, "unknown access key \(accessKey)", accessKey: accessKey)
        }
        let offered = HMAC<SHA256>.authenticationCode(
            for: Self.passwordProbe, using: SymmetricKey(data: password ?? []))
        guard HMAC<SHA256>.isValidAuthenticationCode(offered, authenticating: Self.passwordProbe, using: key) else {
            throw AccessDenial(
                .badSignature, "the password is not access key \(accessKey)'s secret key", accessKey: accessKey)
        }
        return accessKey
    }
}
