import Foundation
import GRPCNIOTransportHTTP2

/// The etcd members to talk to, from `--etcd http://127.0.0.1:2379[,http://...]`.
///
/// Plain HTTP only: the coordination traffic stays on a trusted network (the tests and `make etcd`
/// use loopback). Several members of one etcd cluster are tried in turn by gRPC's pick-first
/// balancing when they are given as IP addresses.
public struct EtcdEndpoints: Sendable, Hashable, CustomStringConvertible {
    public struct Endpoint: Sendable, Hashable {
        public var host: String
        public var port: Int
    }

    public let members: [Endpoint]

    /// - Throws: `.invalidArgument` naming the entry that is not `http://HOST:PORT`.
    public init(parsing text: String) throws(EtcdError) {
        var members: [Endpoint] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            members.append(try Self.parseEndpoint(entry))
        }
        guard !members.isEmpty else { throw EtcdError(.invalidArgument, "no etcd endpoint given") }
        self.members = members
    }

    public init(host: String, port: Int) {
        self.members = [Endpoint(host: host, port: port)]
    }

    public var description: String {
        members.map { "http://\(Self.bracketed($0.host)):\($0.port)" }.joined(separator: ",")
    }

    private static func parseEndpoint(_ entry: String) throws(EtcdError) -> Endpoint {
        func invalid(_ why: String) -> EtcdError {
            EtcdError(.invalidArgument, "etcd endpoint '\(entry)': \(why); expected http://HOST:PORT")
        }
        if entry.hasPrefix("https://") { throw invalid("TLS to etcd is not supported") }
        let rest = entry.hasPrefix("http://") ? String(entry.dropFirst("http://".count)) : entry
        let hostPort = rest.hasSuffix("/") ? String(rest.dropLast()) : rest
        guard !hostPort.isEmpty, !hostPort.contains("/") else { throw invalid("not a host and port") }
        let host: String
        let portText: Substring
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed [") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            guard after.hasPrefix(":") else { throw invalid("missing port") }
            portText = after.dropFirst()
        } else {
            guard let colon = hostPort.lastIndex(of: ":") else { throw invalid("missing port") }
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        }
        guard !host.isEmpty else { throw invalid("missing host") }
        guard let port = Int(portText), (1...65535).contains(port) else { throw invalid("port must be 1 to 65535") }
        return Endpoint(host: host, port: port)
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// What grpc-swift dials: every member when all are IPv4 (or all IPv6) addresses, else the
    /// first one by DNS name.
    var target: any ResolvableTarget {
        let isIPv4 = { (host: String) in host.allSatisfy { $0.isNumber || $0 == "." } }
        if members.allSatisfy({ isIPv4($0.host) }) {
            return ResolvableTargets.IPv4(addresses: members.map { SocketAddress.IPv4(host: $0.host, port: $0.port) })
        }
        if members.allSatisfy({ $0.host.contains(":") }) {
            return ResolvableTargets.IPv6(addresses: members.map { SocketAddress.IPv6(host: $0.host, port: $0.port) })
        }
        return ResolvableTargets.DNS(host: members[0].host, port: members[0].port)
    }
}
