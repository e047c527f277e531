import GRPCNIOTransportHTTP2
import Logging
import NIOCertificateReloading
import NIOSSL
import ServiceLifecycle
import SluiceBroker
import UnixSignals

/// The certificates of the gRPC and admin ports, reloaded without a restart.
///
/// Each port's chain and key are held by a `TimedCertificateReloader` (swift-nio-extras) that
/// both listeners consult on every TLS handshake (`sslContextCallback`). The files are read again
/// every `refreshInterval` and at once on SIGHUP; a new pair is taken only when it parses and the
/// key matches the certificate, otherwise the old one stays and a warning is logged. What a
/// reload covers: the server's certificate chain and private key for new connections. Open
/// connections keep the certificate they started with; the client CA (`--tls-client-ca`) and
/// the TLS on/off choice are read at start only.
struct TLSReloading {
    static let refreshInterval: Duration = .seconds(60)

    let grpc: TimedCertificateReloader?
    let admin: TimedCertificateReloader?
    let clientCAFile: String?
    let logger: Logger

    /// - Throws: `BrokerError.invalidConfiguration` naming the flag whose files cannot be used.
    init(_ configuration: BrokerConfiguration, logger: Logger) throws(BrokerError) {
        self.logger = logger
        grpc = try configuration.grpcTLS.map { files throws(BrokerError) in
            try Self.reloader(files, flags: "--tls-cert/--tls-key", logger: logger)
        }
        admin = try configuration.adminTLS.map { files throws(BrokerError) in
            try Self.reloader(files, flags: "--admin-tls-cert/--admin-tls-key", logger: logger)
        }
        clientCAFile = configuration.grpcClientCAFile
        if let clientCAFile {
            do {
                _ = try NIOSSLCertificate.fromPEMFile(clientCAFile)
            } catch {
                throw BrokerError(.invalidConfiguration, "--tls-client-ca \(clientCAFile): not a PEM certificate file (\(error))")
            }
        }
    }

    private static func reloader(_ files: TLSFiles, flags: String, logger: Logger) throws(BrokerError)
        -> TimedCertificateReloader
    {
        var configuration = TimedCertificateReloader.Configuration(
            refreshInterval: refreshInterval,
            certificateSource: .init(location: .file(path: files.certificatePath), format: .pem),
            privateKeySource: .init(location: .file(path: files.privateKeyPath), format: .pem)
        ) { $0.logger = logger }
        configuration.onCertificateLoadFailed = { failure in
            logger.warning(
                "cannot reload the TLS certificate; keeping the previous one",
                metadata: ["tls.certificate": "\(files.certificatePath)", "error": "\(failure.error)"])
        }
        do {
            return try TimedCertificateReloader.makeReloaderValidatingSources(configuration: configuration)
        } catch {
            throw BrokerError(
                .invalidConfiguration,
                "\(flags) \(files.certificatePath), \(files.privateKeyPath): cannot use them (\(error))")
        }
    }

    /// Plaintext, TLS, or TLS requiring a client certificate signed by `--tls-client-ca`.
    func grpcTransportSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let grpc else { return .plaintext }
        guard let clientCAFile else { return try .tls(certificateReloader: grpc) }
        return try .mTLS(certificateReloader: grpc) { config in
            config.trustRoots = .certificates([.file(path: clientCAFile, format: .pem)])
        }
    }

    /// The gRPC port's TLS configuration for `--grpc-server direct`, nil for plaintext: the
    /// reloaded pair, and with `--tls-client-ca` a required client certificate.
    func grpcTLSConfiguration() throws -> TLSConfiguration? {
        guard let grpc else { return nil }
        var configuration = try TLSConfiguration.makeServerConfiguration(certificateReloader: grpc)
        if let clientCAFile {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .file(clientCAFile)
        }
        return configuration
    }

    /// The admin port's TLS configuration, nil for plain HTTP.
    func adminConfiguration() throws -> TLSConfiguration? {
        guard let admin else { return nil }
        return try TLSConfiguration.makeServerConfiguration(certificateReloader: admin)
    }

    /// The reloaders' timers and the SIGHUP listener, for the service group.
    var services: [any Service] {
        let reloaders = [grpc, admin].compactMap { $0 }
        guard !reloaders.isEmpty else { return [] }
        return reloaders + [ReloadOnHangup(reloaders: reloaders, logger: logger)]
    }
}

/// `kill -HUP <broker>`: read the certificate files again now.
struct ReloadOnHangup: Service {
    let reloaders: [TimedCertificateReloader]
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            for reloader in reloaders {
                do {
                    try reloader.reload()
                    logger.notice("TLS certificate reloaded (SIGHUP)")
                } catch {
                    logger.warning("cannot reload the TLS certificate; keeping the previous one", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
