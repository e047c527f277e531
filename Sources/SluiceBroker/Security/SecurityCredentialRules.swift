/// The rules for access keys and secret keys, checked before anything is stored.
public enum SecurityCredentialRules {
    public static let accessKeyBytes = 1...128
    public static let secretKeyBytes = 8...256

    /// - Throws: `SecurityError.invalidArgument` naming the rule broken.
    public static func validateAccessKey(_ accessKey: String) throws(SecurityError) {
        guard accessKeyBytes.contains(accessKey.utf8.count) else {
            throw SecurityError(
                .invalidArgument,
                "accessKey: \(accessKey.utf8.count) bytes; expected \(accessKeyBytes.lowerBound) to \(accessKeyBytes.upperBound)")
        }
        let allowed = accessKey.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "@")
        }
        guard allowed else {
            throw SecurityError(.invalidArgument, "accessKey: only letters, digits and _ - . @ are allowed")
        }
    }

    /// The message never repeats the secret.
    /// - Throws: `SecurityError.invalidArgument` naming the rule broken.
    public static func validateSecretKey(_ secret: String) throws(SecurityError) {
        guard secretKeyBytes.contains(secret.utf8.count) else {
            throw SecurityError(
                .invalidArgument,
                "secretKey: \(secret.utf8.count) bytes; expected \(secretKeyBytes.lowerBound) to \(secretKeyBytes.upperBound) "
                    + "(try: openssl rand -hex 24)")
        }
        guard secret.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw SecurityError(.invalidArgument, "secretKey: expected visible ASCII characters without spaces")
        }
    }
}
