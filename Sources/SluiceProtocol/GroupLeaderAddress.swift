import Synchronization

/// With log replication (`--replicas` 2 or more), where clients reach the broker group's current
/// leader: `QueryRoute` names it instead of the broker that was asked, so an official client
/// pointed at any broker of the group sends to the one that takes appends, and after a fail-over
/// its next route refresh moves it to the new leader. The cluster service updates it on every
/// change of leader; nil while no leader is known (routes then name the broker asked).
public final class GroupLeaderAddress: Sendable {
    public struct Endpoint: Sendable, Hashable {
        public var host: String
        public var port: Int
    }

    private let current = Mutex<Endpoint?>(nil)

    public init() {}

    /// The leader's gRPC address as registered in etcd (`host:port`, `[v6]:port`); nil or an
    /// unparsable address forgets the leader.
    public func update(grpcAddress: String?) {
        let endpoint = grpcAddress.flatMap(Self.parse)
        current.withLock { $0 = endpoint }
    }

    public var endpoint: Endpoint? { current.withLock { $0 } }

    static func parse(_ address: String) -> Endpoint? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return Endpoint(host: host, port: port)
    }
}
