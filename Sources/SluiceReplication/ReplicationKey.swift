import Crypto
import SluiceStorage

/// The secret the brokers of one group prove to each other before the replication port serves
/// anything (the handshake, `ReplicationHandshake.swift`). Every member holds the same group
/// secret (`--replication-secret-file`, or the one the first member stored in etcd); the key
/// is derived from it and the group's name, so a secret shared by several groups still gives
/// each group a key of its own and a broker of group A cannot fetch from group B's leader.
///
/// Like RabbitMQ's Erlang cookie: it authenticates peers; it does not encrypt the traffic.
public struct ReplicationKey: Sendable {
    /// Shorter secrets are refused: a guessable secret authenticates nobody.
    public static let minimumSecretBytes = 16
    /// The most bytes a secret may have (a file of a few KiB is a mistake, not a secret).
    public static let maximumSecretBytes = 4096
    /// The largest secret file read: the secret plus room for white space around it.
    public static let maximumSecretFileBytes = 2 * maximumSecretBytes

    let key: SymmetricKey

    /// - Throws: `.unauthenticated` for a secret shorter than `minimumSecretBytes` or longer than
    ///   `maximumSecretBytes`.
    public init(secret: [UInt8], group: String) throws(ReplicationError) {
        guard secret.count >= Self.minimumSecretBytes, secret.count <= Self.maximumSecretBytes else {
            throw ReplicationError(
                .unauthenticated,
                "a replication secret of \(secret.count) bytes; it needs \(Self.minimumSecretBytes) to \(Self.maximumSecretBytes)")
        }
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: Array("sluice replication v1".utf8),
            info: Array(group.utf8), outputByteCount: 32)
    }

    /// A new random secret (for etcd to hold when no file names one): 32 bytes from the system's
    /// cryptographic generator.
    public static func randomSecret() -> [UInt8] { randomBytes(32) }

    /// `count` bytes from the system's cryptographic generator (secrets, handshake nonces).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Reads a secret file: its bytes with surrounding white space (a trailing newline) removed.
    /// - Throws: `.unauthenticated` naming the file when it cannot be read, is larger than
    ///   `maximumSecretFileBytes` (checked before reading) or is too short.
    public static func readSecretFile(_ path: String) throws(ReplicationError) -> [UInt8] {
        guard let data = FileIO.readWholeFile(path, limit: maximumSecretFileBytes) else {
            throw ReplicationError(
                .unauthenticated,
                "cannot read the replication secret file \(path) (missing, unreadable, or over \(maximumSecretFileBytes) bytes)")
        }
        var bytes = data
        let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        while let last = bytes.last, blank.contains(last) { bytes.removeLast() }
        while let first = bytes.first, blank.contains(first) { bytes.removeFirst() }
        guard bytes.count >= minimumSecretBytes else {
            throw ReplicationError(
                .unauthenticated, "the replication secret in \(path) has \(bytes.count) bytes; at least \(minimumSecretBytes)")
        }
        return bytes
    }

    /// The server's proof: it holds the key and answers this client's nonce. (Public for
    /// clients that speak the port's bytes themselves: the fuzzer, tests.)
    public func serverProof(clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.message("server", clientNonce, serverNonce, []), using: key))
    }

    /// The client's proof: it holds the key, answers the server's nonce, and names itself.
    public func clientProof(serverNonce: [UInt8], clientNonce: [UInt8], nodeID: String) -> [UInt8] {
        Array(
            HMAC<SHA256>.authenticationCode(
                for: Self.message("client", serverNonce, clientNonce, Array(nodeID.utf8)), using: key))
    }

    /// Whether `proof` is the server's proof for these nonces. swift-crypto compares in constant
    /// time: a timing difference must not tell an attacker how much of a forged proof was right.
    public func isServerProof(_ proof: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: Self.message("server", clientNonce, serverNonce, []), using: key)
    }

    /// Whether `proof` is the client's proof for these nonces and node id (constant time).
    public func isClientProof(_ proof: [UInt8], serverNonce: [UInt8], clientNonce: [UInt8], nodeID: String) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: Self.message("client", serverNonce, clientNonce, Array(nodeID.utf8)), using: key)
    }

    /// What a proof authenticates: a role label (so a server's proof is never a valid client
    /// proof: no reflection) and the fields, each length-prefixed.
    private static func message(_ role: String, _ first: [UInt8], _ second: [UInt8], _ third: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in [Array("sluice-replication \(role)".utf8), first, second, third] {
            withUnsafeBytes(of: UInt32(field.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: field)
        }
        return bytes
    }
}
