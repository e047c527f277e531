import Logging
import SluiceBroker
import SluiceWire

extension MessagingService {
    /// A consumer announced its subscriptions (Telemetry settings): its group subscribes to each
    /// topic now, so a group that starts at the newest message (`consume-from latest`) starts
    /// where the queues end when the consumer starts, not when it first receives. Best effort:
    /// a group or topic that cannot be used is refused, with its reason, by the receive itself.
    func subscribe(_ settings: Apache_Rocketmq_V2_Settings) async {
        guard case .subscription(let subscription) = settings.pubSub, let engine = handle.consumption,
            !subscription.subscriptions.isEmpty
        else { return }
        let group: ConsumerGroup
        do throws(ProtocolRefusal) {
            group = try await consumerGroup(subscription.group.name, engine: engine)
        } catch {
            return
        }
        for entry in subscription.subscriptions {
            guard let topic = try? await existingTopic(entry.topic.name) else { continue }
            do throws(BrokerError) {
                try await engine.subscribe(group: group, topic: topic)
            } catch {
                logger.warning(
                    "cannot subscribe a consumer group",
                    metadata: ["group": "\(group.name)", "topic": "\(topic.name)", "error": "\(error)"])
            }
        }
    }
}
