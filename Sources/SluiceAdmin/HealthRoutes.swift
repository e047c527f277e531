import Hummingbird
import SluiceBroker

/// `/healthz` (liveness: the process answers) and `/readyz` (the store has recovered and serves).
///
/// Liveness never depends on the store, so a supervisor does not restart a broker that is merely
/// replaying a long log; readiness is what scripts and load balancers wait on.
enum HealthRoutes {
    struct Healthy: Encodable {
        var status = "ok"
    }

    struct Ready: Encodable {
        var status = "ready"
        var recovery: RecoveryFacts
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness) {
        router.get("healthz") { _, _ in
            JSONResponse.make(status: .ok, Healthy())
        }
        router.get("readyz") { _, _ in
            try readyResponse(readiness.state)
        }
    }

    static func readyResponse(_ state: Readiness.State) throws(AdminAPIError) -> Response {
        switch state {
        case .ready(let facts):
            return JSONResponse.make(status: .ok, Ready(recovery: facts))
        case .recovering:
            throw AdminAPIError(
                .serviceUnavailable, code: "NOT_READY", message: "the commit log is still being opened and recovered")
        case .failed(let reason):
            throw AdminAPIError(.serviceUnavailable, code: "STORE_FAILED", message: reason)
        case .stopping:
            throw AdminAPIError(.serviceUnavailable, code: "SHUTTING_DOWN", message: "the broker is shutting down")
        }
    }
}
