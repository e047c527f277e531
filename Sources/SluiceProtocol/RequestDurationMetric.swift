import Metrics
import Synchronization

/// `sluice_grpc_request_duration_seconds{rpc}`: how long the broker took to answer a unary RPC,
/// from its handler's start to its response — admission, validation, the log's sync or the
/// table's commit included; reading the request off the socket and writing the answer not.
/// Receives (a long poll waits by design) and Telemetry streams are left out. `rpc` comes from
/// the service's fixed set of methods, so the series stay bounded.
public final class RequestDurationMetric: Sendable {
    public static let label = "sluice_grpc_request_duration_seconds"
    /// Calls answer in tens of microseconds to a few hundred milliseconds: finer buckets than the
    /// Prometheus factory's default (5 ms to 10 s), which would put most calls in the first one.
    public static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]

    static let shared = RequestDurationMetric()

    /// By the name the caller passed (`#function`, or the RPC's own name): one look-up per call.
    private let timers = Mutex<[String: Timer]>([:])

    func record(rpc: String, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let timer = timers.withLock { timers in
            if let existing = timers[rpc] { return existing }
            let created = Timer(label: Self.label, dimensions: [("rpc", RefusalMetric.rpcName(rpc))])
            timers[rpc] = created
            return created
        }
        let (seconds, attoseconds) = elapsed.components
        timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
