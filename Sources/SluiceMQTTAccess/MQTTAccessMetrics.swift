import Metrics
import Synchronization

/// `sluice_mqtt_access_packets_total{type,code}` (packets the front handled and how each
/// ended), `sluice_mqtt_access_connections_total{outcome}` and
/// `sluice_mqtt_access_open_connections`. Types, codes and outcomes are fixed sets, so labels
/// stay bounded.
final class MQTTAccessMetrics: Sendable {
    static let shared = MQTTAccessMetrics()

    private let counters = Mutex<[String: Counter]>([:])
    let openConnections = Gauge(label: "sluice_mqtt_access_open_connections")

    func packet(_ type: String, code: String = "ok") {
        counter("sluice_mqtt_access_packets_total", [("type", type), ("code", code)]).increment()
    }

    /// `accepted`, `refused_limit`, `refused_credentials`, `protocol_error`, `keep_alive_expired`, `closed`.
    func connection(_ outcome: String) {
        counter("sluice_mqtt_access_connections_total", [("outcome", outcome)]).increment()
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = label + dimensions.map { "\n" + $0.0 + "=" + $0.1 }.joined()
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions)
            counters[key] = counter
            return counter
        }
    }
}
