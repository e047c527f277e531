import Metrics
import Synchronization

/// `sluice_http_access_requests_total{operation,code}` and
/// `sluice_http_access_request_duration_seconds{operation}`. Operations are a fixed set and codes
/// come from `HTTPAccessError` (a fixed set too), so labels stay bounded.
final class HTTPAccessMetrics: Sendable {
    static let shared = HTTPAccessMetrics()

    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    func record(operation: String, code: String, elapsed: Duration) {
        let key = operation + "\n" + code
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "sluice_http_access_requests_total", dimensions: [("operation", operation), ("code", code)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers in
            if let timer = timers[operation] { return timer }
            let timer = Timer(label: "sluice_http_access_request_duration_seconds", dimensions: [("operation", operation)])
            timers[operation] = timer
            return timer
        }
        timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
