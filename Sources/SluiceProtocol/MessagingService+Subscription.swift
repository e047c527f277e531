import SluiceBroker

/// Subscriptions for fronts without Telemetry (the MQTT front, `SluiceMQTTAccess`): a session
/// subscribes its group when the client subscribes, not at its first receive, so a message sent
/// right after the subscription's acknowledgement is delivered.
extension MessagingService {
    /// Subscribes `group` (created on first use unless the broker forbids it) to `topic`. With
    /// `startAtEnd` the group's position moves to the end of every queue first: a clean MQTT
    /// session must not get what was sent before it subscribed.
    /// - Throws: TOPIC_NOT_FOUND, ILLEGAL_CONSUMER_GROUP, TOO_MANY_REQUESTS (`--max-groups`), ...
    public func subscribeChecked(group name: String, topic topicName: String, startAtEnd: Bool) async
        throws(FrontRefusal)
    {
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            let topic = try await existingTopic(topicName)
            let group = try await consumerGroup(name, engine: engine)
            do throws(BrokerError) {
                if startAtEnd {
                    _ = try await engine.resetOffsets(group: group.name, topic: topic, to: .latest)
                } else {
                    try await engine.subscribe(group: group, topic: topic)
                }
            } catch {
                throw ProtocolRefusal(error)
            }
        } catch {
            throw FrontRefusal(error)
        }
    }

    /// Makes `group`'s unacknowledged deliveries on `topic` due again now: a returning MQTT
    /// session's in-flight messages are re-sent at once (with DUP set, from their attempt
    /// count), not after their invisible time. Returns how many.
    /// - Throws: the refusal for a broker still starting or a store failure.
    public func redeliverInFlightChecked(group: String, topic: String) async throws(FrontRefusal) -> Int {
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            do throws(BrokerError) {
                return try await engine.redeliverInFlight(group: group, topic: topic)
            } catch {
                throw ProtocolRefusal(error)
            }
        } catch {
            throw FrontRefusal(error)
        }
    }

    /// Deletes the consumer group `name` with its progress, when it exists: an MQTT clean
    /// session's own group ends with the session (§3.1.2.4), so client ids do not pile up groups.
    /// - Throws: the refusal for a broker still starting or a store failure.
    public func deleteGroupChecked(_ name: String) async throws(FrontRefusal) {
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            do throws(BrokerError) {
                _ = try await engine.deleteGroup(named: name)
            } catch {
                throw ProtocolRefusal(error)
            }
        } catch {
            throw FrontRefusal(error)
        }
    }
}
