import NIOCore
import NIOSSL

/// Mutual TLS on the replication port (`--replication-tls-cert`, `--replication-tls-key`,
/// `--replication-tls-ca`): the records travel encrypted and intact, the server requires the
/// client's certificate and the client checks the server's, both against the group's CA. Below
/// the key handshake, not instead of it: TLS says "a certificate of our CA", the handshake says
/// "a member of this group". Host names are not checked (peers are reached at the address etcd
/// publishes, which certificates need not name): trust comes from the CA, so give the group a CA
/// of its own rather than a public one.
public struct ReplicationTLS: Sendable {
    let server: NIOSSLContext
    let client: NIOSSLContext

    /// Reads the PEM files once (at start; a new certificate needs a restart).
    /// - Throws: `.unauthenticated` naming the file that cannot be used.
    public init(certificateChain: String, privateKey: String, trustRoots: String) throws(ReplicationError) {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let roots: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        } catch {
            throw ReplicationError(.unauthenticated, "\(certificateChain) is not a PEM certificate chain", cause: error)
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw ReplicationError(.unauthenticated, "\(privateKey) is not a PEM private key", cause: error)
        }
        do {
            roots = try NIOSSLCertificate.fromPEMFile(trustRoots)
        } catch {
            throw ReplicationError(.unauthenticated, "\(trustRoots) is not a PEM CA certificate file", cause: error)
        }
        guard !chain.isEmpty, !roots.isEmpty else {
            throw ReplicationError(.unauthenticated, "no certificate in \(chain.isEmpty ? certificateChain : trustRoots)")
        }
        var serverConfiguration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        serverConfiguration.trustRoots = .certificates(roots)
        serverConfiguration.certificateVerification = .noHostnameVerification
        serverConfiguration.minimumTLSVersion = .tlsv12
        var clientConfiguration = TLSConfiguration.makeClientConfiguration()
        clientConfiguration.certificateChain = chain.map { .certificate($0) }
        clientConfiguration.privateKey = .privateKey(key)
        clientConfiguration.trustRoots = .certificates(roots)
        clientConfiguration.certificateVerification = .noHostnameVerification
        clientConfiguration.minimumTLSVersion = .tlsv12
        do {
            server = try NIOSSLContext(configuration: serverConfiguration)
            client = try NIOSSLContext(configuration: clientConfiguration)
        } catch {
            throw ReplicationError(.unauthenticated, "cannot use \(certificateChain) with \(privateKey)", cause: error)
        }
    }
}
