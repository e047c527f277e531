import Hummingbird
import SluiceBroker
import Testing

@testable import SluiceAdmin

@Suite("HealthRoutes")
struct HealthRoutesTests {
    @Test("/readyz is 503 with a stable code until the store is ready", arguments: [
        (Readiness.State.recovering, "NOT_READY"),
        (.failed(reason: "disk on fire"), "STORE_FAILED"),
        (.stopping, "SHUTTING_DOWN"),
    ])
    func notReady(_ state: Readiness.State, _ code: String) {
        let error = #expect(throws: AdminAPIError.self) { try HealthRoutes.readyResponse(state) }
        #expect(error?.status == .serviceUnavailable)
        #expect(error?.code == code)
        #expect(error?.message.isEmpty == false)
    }
}
