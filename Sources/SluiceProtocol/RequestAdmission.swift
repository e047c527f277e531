import Metrics
import SluiceBroker
import SluiceWire
import Synchronization

/// Bounds the unary calls the broker works on at once and the message-body bytes they hold
/// (`--grpc-max-inflight-requests`, `--grpc-max-buffered-request-bytes`). A call over either limit
/// is answered at once with TOO_MANY_REQUESTS, the code that makes the official clients back off
/// instead of retrying at once, and its connection stays up.
///
/// Receive and Telemetry calls are long-lived (long polls, one stream per client) and are not
/// counted here: the per-connection stream limit and the long-poll waiter cap bound them.
public final class RequestAdmission: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxInflightRequests: Int
        public var maxBufferedRequestBytes: Int

        public init(maxInflightRequests: Int = 4096, maxBufferedRequestBytes: Int = 256 << 20) {
            self.maxInflightRequests = maxInflightRequests
            self.maxBufferedRequestBytes = maxBufferedRequestBytes
        }
    }

    private struct State {
        var requests = 0
        var bytes = 0
    }

    public let limits: Limits
    private let state = Mutex(State())
    private let inflightGauge = Gauge(label: "sluice_grpc_inflight_requests")
    private let bufferedGauge = Gauge(label: "sluice_grpc_buffered_request_bytes")

    public init(limits: Limits) {
        self.limits = limits
        inflightGauge.record(0)
        bufferedGauge.record(0)
    }

    /// Admits one call holding `bytes` of bodies, or says which limit it would pass.
    func admit(bytes: Int) -> ThrottleReason? {
        let admitted = state.withLock { state -> (Int, Int)? in
            guard state.requests < limits.maxInflightRequests else { return nil }
            // One call larger than the whole budget is still admitted when nothing else is held,
            // so a valid 4 MiB body is never refused forever.
            guard state.bytes == 0 || bytes <= limits.maxBufferedRequestBytes - state.bytes else { return (-1, 0) }
            state.requests += 1
            state.bytes += bytes
            return (state.requests, state.bytes)
        }
        switch admitted {
        case nil:
            ThrottleReason.inflightRequests.count()
            return .inflightRequests
        case (-1, _)?:
            ThrottleReason.bufferedBytes.count()
            return .bufferedBytes
        case let (requests, held)?:
            inflightGauge.record(requests)
            bufferedGauge.record(held)
            return nil
        }
    }

    /// Ends a call `admit` let in.
    func release(bytes: Int) {
        let (requests, held) = state.withLock { state in
            state.requests -= 1
            state.bytes -= bytes
            return (state.requests, state.bytes)
        }
        inflightGauge.record(requests)
        bufferedGauge.record(held)
    }

    /// Calls in flight and body bytes held now.
    public var current: (requests: Int, bytes: Int) {
        state.withLock { ($0.requests, $0.bytes) }
    }
}

/// Why the front door refused work: the label of `sluice_grpc_throttled_total{reason}`.
public enum ThrottleReason: String, Sendable, CaseIterable {
    case inflightRequests = "inflight_requests"
    case bufferedBytes = "buffered_bytes"
    case connections

    private static let counters: [ThrottleReason: Counter] = Dictionary(
        uniqueKeysWithValues: allCases.map {
            ($0, Counter(label: "sluice_grpc_throttled_total", dimensions: [("reason", $0.rawValue)]))
        })

    public func count() { Self.counters[self]?.increment() }

    func refusal(_ limits: RequestAdmission.Limits) -> ProtocolRefusal {
        switch self {
        case .inflightRequests:
            ProtocolRefusal(
                .tooManyRequests,
                "the broker is working on \(limits.maxInflightRequests) calls (--grpc-max-inflight-requests); retry shortly")
        case .bufferedBytes:
            ProtocolRefusal(
                .tooManyRequests,
                "the broker holds \(limits.maxBufferedRequestBytes) bytes of message bodies in flight "
                    + "(--grpc-max-buffered-request-bytes); retry shortly")
        case .connections:
            ProtocolRefusal(.tooManyRequests, "the broker has too many connections (--grpc-max-connections)")
        }
    }
}
