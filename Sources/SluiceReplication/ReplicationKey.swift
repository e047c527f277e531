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
    public static func randomSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Reads a secret file: its bytes with surrounding white space (a trailing newline) removed.
    /// - Throws: `.unauthenticated` naming the file when it cannot be read or is too short.
    public static func readSecretFile(_ path: String) throws(ReplicationError) -> [UInt8] {
        guard let data = FileIO.readWholeFile(path) else {
            throw ReplicationError(.unauthenticated, "cannot read the replication secret file \(path)")
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
        mac("server", clientNonce, serverNonce, [])
    }

    /// The client's proof: it holds the key, answers the server's nonce, and names itself.
    public func clientProof(serverNonce: [UInt8], clientNonce: [UInt8], nodeID: String) -> [UInt8] {
        mac("client", serverNonce, clientNonce, Array(nodeID.utf8))
    }

    /// Whether `proof` is `expected`, compared in constant time (a timing difference must not
    /// tell an attacker how many leading bytes of a forged proof were right).
    public static func matches(_ proof: [UInt8], _ expected: [UInt8]) -> Bool {
        guard proof.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in proof.indices { difference |= proof[index] ^ expected[index] }
        return difference == 0
    }

    /// HMAC-SHA256 over a role label (so a server's proof is never a valid client proof: no
    /// reflection) and the length-prefixed fields.
    private func mac(_ role: String, _ first: [UInt8], _ second: [UInt8], _ third: [UInt8]) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        for field in [Array("sluice-replication \(role)".utf8), first, second, third] {
            withUnsafeBytes(of: UInt32(field.count).littleEndian) { hmac.update(data: $0) }
            hmac.update(data: field)
        }
        return Array(hmac.finalize())
    }
}
