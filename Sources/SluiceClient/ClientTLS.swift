import GRPCNIOTransportHTTP2

/// TLS to the broker, as the official clients' `tls_enable`: the server certificate is checked
/// against `trustRoots` (the system's by default, like the official clients; a CA file for a
/// private CA), with a client certificate for brokers that require mutual TLS.
public struct ClientTLS: Sendable {
    public enum TrustRoots: Sendable, Hashable {
        /// The operating system's trust store.
        case system
        /// PEM CA certificates in a file.
        case pemFile(String)
    }

    public var trustRoots: TrustRoots
    /// PEM certificate chain and private key files presented to a broker started with `--tls-client-ca`.
    public var clientCertificate: (chainFile: String, keyFile: String)?
    /// Check that the certificate names the host dialled (on by default; off only for test
    /// certificates issued to another name).
    public var verifyHostname: Bool
    /// The name sent in SNI and checked against the certificate, when it differs from `host`.
    public var serverHostname: String?

    public init(
        trustRoots: TrustRoots = .system, clientCertificate: (chainFile: String, keyFile: String)? = nil,
        verifyHostname: Bool = true, serverHostname: String? = nil
    ) {
        self.trustRoots = trustRoots
        self.clientCertificate = clientCertificate
        self.verifyHostname = verifyHostname
        self.serverHostname = serverHostname
    }

    var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        let configure: (inout HTTP2ClientTransport.Posix.TransportSecurity.TLS) -> Void = { config in
            switch trustRoots {
            case .system: config.trustRoots = .systemDefault
            case .pemFile(let path): config.trustRoots = .certificates([.file(path: path, format: .pem)])
            }
            config.serverCertificateVerification = verifyHostname ? .fullVerification : .noHostnameVerification
        }
        if let clientCertificate {
            return .mTLS(
                certificateChain: [.file(path: clientCertificate.chainFile, format: .pem)],
                privateKey: .file(path: clientCertificate.keyFile, format: .pem), configure: configure)
        }
        return .tls(configure: configure)
    }
}
