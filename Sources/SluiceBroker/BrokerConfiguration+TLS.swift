/// A certificate chain and its private key, both PEM files.
public struct TLSFiles: Sendable, Hashable {
    public var certificatePath: String
    public var privateKeyPath: String

    public init(certificatePath: String, privateKeyPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }
}

extension BrokerConfiguration {
    /// Rebuilds `grpcTLS`, `grpcClientCAFile` and `adminTLS` from the paths given so far.
    mutating func applyTLSPaths() {
        if let certificate = tlsPaths[.tlsCert], let key = tlsPaths[.tlsKey] {
            grpcTLS = TLSFiles(certificatePath: certificate, privateKeyPath: key)
        }
        grpcClientCAFile = tlsPaths[.tlsClientCa]
        if let certificate = tlsPaths[.adminTlsCert], let key = tlsPaths[.adminTlsKey] {
            adminTLS = TLSFiles(certificatePath: certificate, privateKeyPath: key)
        }
        if let certificate = tlsPaths[.replicationTlsCert], let key = tlsPaths[.replicationTlsKey] {
            replicationTLS = TLSFiles(certificatePath: certificate, privateKeyPath: key)
        }
        replicationCAFile = tlsPaths[.replicationTlsCa]
    }

    /// A certificate needs its key and the reverse; a client CA needs gRPC TLS.
    /// - Throws: `.invalidConfiguration` naming the missing flag.
    func validateTLS() throws(BrokerError) {
        let pairs: [(BrokerSetting, BrokerSetting)] = [(.tlsCert, .tlsKey), (.adminTlsCert, .adminTlsKey)]
        for (certificate, key) in pairs {
            if (tlsPaths[certificate] == nil) != (tlsPaths[key] == nil) {
                let given = tlsPaths[certificate] == nil ? key : certificate
                let missing = given == certificate ? key : certificate
                throw BrokerError(.invalidConfiguration, "\(given.flag) needs \(missing.flag) too")
            }
        }
        let replication: [BrokerSetting] = [.replicationTlsCert, .replicationTlsKey, .replicationTlsCa]
        let given = replication.filter { tlsPaths[$0] != nil }
        if !given.isEmpty, given.count < replication.count {
            let missing = replication.filter { tlsPaths[$0] == nil }.map(\.flag).joined(separator: " and ")
            throw BrokerError(.invalidConfiguration, "\(given[0].flag) needs \(missing) too (mutual TLS between the group's brokers)")
        }
        if tlsPaths[.tlsClientCa] != nil, tlsPaths[.tlsCert] == nil {
            throw BrokerError(
                .invalidConfiguration, "--tls-client-ca verifies client certificates over TLS: give --tls-cert and --tls-key too")
        }
    }
}
