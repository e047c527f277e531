import Logging
import SluiceBroker
import SluiceProtocol

/// A kept session's return (clean session 0, §3.1.2.4): before its own group's pump starts, the
/// queue that built up while it was away is cut to `--mqtt-max-queued`, and the deliveries it
/// left unanswered (at a disconnect, or claimed before a crash) are made due at once.
extension MQTTConnection {
    /// Makes the session's own group's unanswered deliveries on the pump's topic due now: they
    /// go out first, with DUP set from their attempt count (§4.4).
    func redeliverInFlight(_ key: MQTTSessionState.PumpKey) async {
        do throws(FrontRefusal) {
            let count = try await front.service.redeliverInFlightChecked(group: key.group, topic: key.topic)
            if count > 0 {
                front.logger.debug(
                    "MQTT session resumed with deliveries in flight",
                    metadata: ["mqtt.group": "\(key.group)", "mqtt.redelivered": "\(count)"])
            }
        } catch {
            front.logger.debug("MQTT redelivery refused", metadata: ["error": "\(error.message)"])
        }
    }

    /// Skips the oldest unread messages of the session's own group on the pump's topic past
    /// `maxQueuedPerSession`, spread over the topic's queues by their share of the backlog (the
    /// queues are not ordered among themselves, so "newest" is per queue). The messages stay in
    /// the log for every other group; this session only moves its cursor.
    func trimQueue(_ key: MQTTSessionState.PumpKey) async {
        let limit = front.limits.maxQueuedPerSession
        guard limit > 0, let engine = front.handle.consumption, let group = engine.group(named: key.group),
            let backlog = await engine.backlog(group: key.group)
        else { return }
        let queues = backlog.queues.filter { $0.topic == key.topic && $0.endOffset > $0.nextOffset }
        let unread = queues.map { Int($0.endOffset - $0.nextOffset) }
        let total = unread.reduce(0, +)
        guard total > limit else { return }
        var keep = unread.map { limit * $0 / total }
        var left = limit - keep.reduce(0, +)
        for index in unread.indices.sorted(by: { unread[$0] > unread[$1] }) where left > 0 && keep[index] < unread[index] {
            keep[index] += 1
            left -= 1
        }
        do {
            let topic = try await front.service.topicChecked(key.topic)
            for (queue, kept) in zip(queues, keep) {
                try await engine.resetOffset(
                    group: group, topic: topic, queueId: queue.queueId, to: queue.endOffset - UInt64(kept))
            }
            MQTTAccessMetrics.shared.packet("resume", code: "queue_trimmed")
            front.logger.info(
                "MQTT kept session's queue cut to --mqtt-max-queued",
                metadata: ["mqtt.group": "\(key.group)", "mqtt.skipped": "\(total - limit)", "mqtt.limit": "\(limit)"])
        } catch {
            front.logger.info("MQTT queue not cut", metadata: ["mqtt.group": "\(key.group)", "error": "\(error)"])
        }
    }
}
