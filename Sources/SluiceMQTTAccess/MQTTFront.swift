import Logging
import SluiceBroker
import SluiceProtocol
import SluiceStorage

/// What every connection shares: the broker's `MessagingService` (so MQTT messages go through
/// the same validation, log, queues and consumer groups as gRPC ones), access control, limits,
/// and the registry of connected client ids.
struct MQTTFront: Sendable {
    let service: MessagingService
    let access: AccessControl
    /// For the retained messages (`handle.mqttRetained`) and the sessions (`handle.mqttSessions`).
    let handle: BrokerHandle
    let limits: MQTTAccessLimits
    let logger: Logger
    let registry = MQTTClientRegistry()
    let messageIds = MessageIDGenerator()

    /// The client id the messaging service sees for MQTT sessions (for its trace records).
    static let serviceClientId = "mqtt"

    /// Ends a session: its own consumer group goes (so ids do not pile up groups toward
    /// --max-groups), then the session itself. Used for a session that ends with its
    /// connection and for one past its MQTT 5 expiry interval.
    func endSession(_ clientId: String, sessions: MQTTSessionStore) async {
        if let group = MQTTTopicMapping.group(ofClient: clientId) {
            do throws(FrontRefusal) {
                try await service.deleteGroupChecked(group)
            } catch {
                logger.debug("cannot delete an ended MQTT session's group", metadata: ["group": "\(group)", "error": "\(error.message)"])
            }
        }
        try? await sessions.discard(clientId)
    }

    /// Ends the kept sessions past their MQTT 5 expiry interval that no client came back to,
    /// every few seconds until cancelled.
    func expireSessions() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            guard let sessions = handle.mqttSessions else { continue }
            for clientId in sessions.expired() where sessions.session(clientId)?.hasExpired(nowMs: WallClock.nowMs()) == true {
                await endSession(clientId, sessions: sessions)
                MQTTAccessMetrics.shared.packet("session", code: "expired")
            }
        }
    }

    /// Acknowledges a delivery in Sluice; a failure leaves it to be delivered again after its
    /// invisible time, which at-least-once allows.
    func acknowledge(_ pending: MQTTSessionState.Pending) async {
        // A retained message's delivery has nothing to acknowledge in Sluice.
        guard !pending.receiptHandle.isEmpty else { return }
        do throws(FrontRefusal) {
            let results = try await service.ackChecked(
                group: pending.key.group, topic: pending.key.topic, receiptHandles: [pending.receiptHandle],
                clientId: Self.serviceClientId)
            if let failure = results.first ?? nil {
                logger.debug("MQTT delivery ack refused", metadata: ["error": "\(failure.message)"])
            }
        } catch {
            logger.debug("MQTT delivery ack refused", metadata: ["error": "\(error.message)"])
        }
    }
}
