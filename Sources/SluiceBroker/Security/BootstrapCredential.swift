import Foundation

/// One `ACCESS_KEY:SECRET_KEY` line of `--bootstrap-user-file`: a user created with every
/// permission the first time the broker starts with it (later starts leave it alone).
public struct BootstrapCredential: Sendable, Hashable {
    public var accessKey: String
    public var secretKey: String

    public init(accessKey: String, secretKey: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// Reads the file: one `ACCESS_KEY:SECRET_KEY` per line; blank lines and `#` comments are
    /// skipped. Errors name the line, never the secret.
    /// - Throws: `BrokerError.invalidConfiguration`.
    public static func load(_ path: String) throws(BrokerError) -> [BootstrapCredential] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BrokerError(.invalidConfiguration, "--bootstrap-user-file \(path): cannot read it (\(error.localizedDescription))")
        }
        return try parse(text, path: path)
    }

    /// - Throws: `BrokerError.invalidConfiguration` naming the line.
    public static func parse(_ text: String, path: String) throws(BrokerError) -> [BootstrapCredential] {
        var result: [BootstrapCredential] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw BrokerError(.invalidConfiguration, "--bootstrap-user-file \(path) line \(index + 1): expected ACCESS_KEY:SECRET_KEY")
            }
            let credential = BootstrapCredential(
                accessKey: String(line[..<colon]), secretKey: String(line[line.index(after: colon)...]))
            do throws(SecurityError) {
                try SecurityCredentialRules.validateAccessKey(credential.accessKey)
                try SecurityCredentialRules.validateSecretKey(credential.secretKey)
            } catch {
                throw BrokerError(.invalidConfiguration, "--bootstrap-user-file \(path) line \(index + 1): \(error.message)")
            }
            result.append(credential)
        }
        return result
    }
}
