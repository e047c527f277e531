import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a listener's failure to bind into a `BrokerError` that names the address and the flag to
/// change, instead of NIO's bare `bind(descriptor:ptr:bytes:)` text.
public enum ListenFailure {
    /// - Parameters:
    ///   - endpoint: what was listening, e.g. "admin HTTP".
    ///   - flag: the flag that moves it, e.g. "--admin-port".
    ///   - error: the error, or an error whose cause chain holds an `IOError`.
    public static func brokerError(
        endpoint: String, host: String, port: Int, flag: String, _ error: any Error
    ) -> BrokerError {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let reason: String
        switch (error as? IOError)?.errnoCode {
        case EADDRINUSE?: reason = "the address is already in use by another process; stop it or choose another \(flag)"
        case EADDRNOTAVAIL?: reason = "the address is not one of this machine's"
        case EACCES?: reason = "permission denied (ports below 1024 need privileges)"
        default: reason = "\(error)"
        }
        return BrokerError(.addressUnavailable, "\(endpoint) cannot listen on \(address): \(reason)", cause: error)
    }
}
