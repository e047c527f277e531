import GRPCCore
import SluiceBroker
import SluiceWire

/// Ack, ChangeInvisibleDuration and ForwardMessageToDeadLetterQueue: what a consumer says about a
/// message it received, named by its receipt handle.
extension MessagingService {
    public func ackMessage(
        request: ServerRequest<Apache_Rocketmq_V2_AckMessageRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_AckMessageResponse> {
        var response = Apache_Rocketmq_V2_AckMessageResponse()
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            guard !request.message.entries.isEmpty else {
                throw ProtocolRefusal(.badRequest, "an ack needs at least one entry (message id and receipt handle)")
            }
            var firstFailure: Status?
            for entry in request.message.entries {
                var result = Apache_Rocketmq_V2_AckMessageResultEntry()
                result.messageID = entry.messageID
                result.receiptHandle = entry.receiptHandle
                do throws(BrokerError) {
                    try await engine.ack(group: group, topic: topic, receiptHandle: entry.receiptHandle)
                    result.status = .ok
                } catch {
                    var status = ProtocolRefusal(error).status
                    status.message = "message \(entry.messageID): \(status.message)"
                    result.status = status
                    firstFailure = firstFailure ?? status
                }
                response.entries.append(result)
            }
            // The Python client reads only the top-level status: put the first failure there.
            response.status = firstFailure ?? .ok
        } catch {
            response.status = error.status
        }
        return respond(response)
    }

    public func changeInvisibleDuration(
        request: ServerRequest<Apache_Rocketmq_V2_ChangeInvisibleDurationRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ChangeInvisibleDurationResponse> {
        var response = Apache_Rocketmq_V2_ChangeInvisibleDurationResponse()
        // The client copies this handle before it looks at the status: never leave it empty.
        response.receiptHandle = request.message.receiptHandle
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            let invisibleMs = WireMessage.milliseconds(request.message.invisibleDuration)
            guard (0...Self.invisibleRangeMs.upperBound).contains(invisibleMs) else {
                throw ProtocolRefusal(.illegalInvisibleTime, "invisible_duration must be 0 to 12 h; got \(invisibleMs) ms")
            }
            do throws(BrokerError) {
                response.receiptHandle = try await engine.changeInvisibleDuration(
                    group: group, topic: topic, receiptHandle: request.message.receiptHandle, invisibleMs: invisibleMs)
            } catch {
                throw ProtocolRefusal(error)
            }
            response.status = .ok
        } catch {
            response.status = error.status
        }
        return respond(response)
    }

    public func forwardMessageToDeadLetterQueue(
        request: ServerRequest<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueRequest>, context: ServerContext
    ) async throws -> ServerResponse<Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse> {
        var response = Apache_Rocketmq_V2_ForwardMessageToDeadLetterQueueResponse()
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            let (group, topic) = try Self.groupAndTopic(request.message.group, request.message.topic)
            do throws(BrokerError) {
                try await engine.forwardToDeadLetter(group: group, topic: topic, receiptHandle: request.message.receiptHandle)
            } catch {
                throw ProtocolRefusal(error)
            }
            response.status = .ok
        } catch {
            response.status = error.status
        }
        return respond(response)
    }

    static func groupAndTopic(_ group: Apache_Rocketmq_V2_Resource, _ topic: Apache_Rocketmq_V2_Resource)
        throws(ProtocolRefusal) -> (String, String)
    {
        if group.name.isEmpty { throw ProtocolRefusal(.illegalConsumerGroup, "the consumer group name is empty") }
        if topic.name.isEmpty { throw ProtocolRefusal(.illegalTopic, "the topic name is empty") }
        return (group.name, topic.name)
    }
}
