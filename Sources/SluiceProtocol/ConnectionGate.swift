import Metrics
import Synchronization

/// Counts the broker's open gRPC connections (`sluice_grpc_connections`) and refuses one past
/// `--grpc-max-connections`. The endpoint asks when a TCP connection is accepted and closes a
/// refused one before any HTTP/2 is spoken: nothing else can carry a status then, so the client
/// sees the connection closed and reconnects with its back-off.
public final class ConnectionGate: Sendable {
    public let maxConnections: Int
    private let open = Mutex(0)
    private let gauge = Gauge(label: "sluice_grpc_connections")

    public init(maxConnections: Int) {
        self.maxConnections = maxConnections
        gauge.record(0)
    }

    /// Takes a slot for a new connection; false (and counted as throttled) when none is free.
    public func tryOpen() -> Bool {
        let count = open.withLock { open -> Int? in
            guard open < maxConnections else { return nil }
            open += 1
            return open
        }
        guard let count else {
            ThrottleReason.connections.count()
            return false
        }
        gauge.record(count)
        return true
    }

    /// Gives back the slot of a connection that `tryOpen` let in.
    public func closed() {
        gauge.record(open.withLock { open in
            open -= 1
            return open
        })
    }

    public var openConnections: Int { open.withLock { $0 } }
}
