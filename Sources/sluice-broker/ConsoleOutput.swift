import Foundation

/// The broker's few lines for humans and scripts. Written with one `write(2)` each, unbuffered, so
/// a script reading stdout through a pipe sees an endpoint line the moment the socket listens.
enum ConsoleOutput {
    /// Prints `sluice-broker: <endpoint> listening on <host>:<port>` to stdout.
    static func announceListening(_ endpoint: String, host: String, port: Int) {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        FileHandle.standardOutput.write(Data("sluice-broker: \(endpoint) listening on \(address)\n".utf8))
    }

    /// Prints `sluice-broker: <line>` to stdout (a step of start-up worth a line).
    static func announce(_ line: String) {
        FileHandle.standardOutput.write(Data("sluice-broker: \(line)\n".utf8))
    }

    /// Prints `sluice-broker: error: <message>` to stderr.
    static func reportError(_ message: String) {
        FileHandle.standardError.write(Data("sluice-broker: error: \(message)\n".utf8))
    }
}
