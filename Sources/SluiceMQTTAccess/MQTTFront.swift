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
