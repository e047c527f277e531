import SluiceBroker
import SluiceWire

/// A refusal answered to another front: the RocketMQ code and a message saying what was wrong.
public struct FrontRefusal: Error, Sendable, Equatable {
    public var code: Apache_Rocketmq_V2_Code
    public var message: String

    public init(_ code: Apache_Rocketmq_V2_Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ refusal: ProtocolRefusal) { self.init(refusal.code, refusal.message) }
}

/// Entry points for fronts that authenticate and authorize the caller themselves (the HTTP front,
/// `SluiceHTTPAccess`, checks the SDK's own signature): the same validation, log, queues,
/// consumer groups, transaction table and metrics as the gRPC RPCs, minus the gRPC signature
/// check. The caller must have checked access before calling.
extension MessagingService {
    /// SendMessage's work for one message: a half message when its type is TRANSACTION.
    /// - Throws: the refusal SendMessage would answer (admission, validation, storage).
    public func sendChecked(_ request: Apache_Rocketmq_V2_SendMessageRequest, clientId: String) async
        throws(FrontRefusal) -> Apache_Rocketmq_V2_SendResultEntry
    {
        let bytes = request.messages.reduce(0) { $0 + $1.body.count }
        if let throttled = admission.admit(bytes: bytes) {
            let refusal = throttled.refusal(admission.limits)
            RefusalMetric.shared.count(refusal.status, rpc: "SendMessage")
            throw FrontRefusal(refusal)
        }
        defer { admission.release(bytes: bytes) }
        do throws(ProtocolRefusal) {
            let entry = try await send(request, clientId: clientId)
            return entry
        } catch {
            RefusalMetric.shared.count(error.status, rpc: "SendMessage")
            throw FrontRefusal(error)
        }
    }

    /// ReceiveMessage's work, long polling included: the messages claimed (empty when none came
    /// within the long-polling time), each with its receipt handle and invisible duration.
    /// - Throws: the refusal ReceiveMessage would answer.
    public func receiveChecked(_ request: Apache_Rocketmq_V2_ReceiveMessageRequest, clientId: String) async
        throws(FrontRefusal) -> [Apache_Rocketmq_V2_Message]
    {
        let outcome = await receiveOutcome(request, clientId: clientId)
        guard let head = outcome.responses.first else { return [] }
        if head.status.code == .messageNotFound { return [] }
        if head.status.code != .ok { throw FrontRefusal(head.status.code, head.status.message) }
        return outcome.responses.compactMap { response in
            if case .message(let message)? = response.content { return message }
            return nil
        }
    }

    /// AckMessage's work for receipt handles alone: one result per handle, nil for acknowledged.
    /// - Throws: a refusal for the whole request (no consumption engine yet, bad names).
    public func ackChecked(group: String, topic: String, receiptHandles: [String], clientId: String) async
        throws(FrontRefusal) -> [FrontRefusal?]
    {
        do throws(ProtocolRefusal) {
            let engine = try consumptionEngine()
            try WireCheck.groupName(group)
            try WireCheck.topicName(topic)
            var results: [FrontRefusal?] = []
            var valid: [ConsumptionEngine.AckEntry] = []
            for handle in receiptHandles {
                do throws(ProtocolRefusal) {
                    try WireCheck.receiptHandle(handle)
                    results.append(nil)
                    valid.append(ConsumptionEngine.AckEntry(messageId: "", receiptHandle: handle))
                } catch {
                    results.append(FrontRefusal(error))
                }
            }
            var outcomes = valid.isEmpty ? [] : await engine.ack(group: group, topic: topic, entries: valid, clientId: clientId)
            outcomes.reverse()
            for index in results.indices where results[index] == nil {
                if case .failure(let error)? = outcomes.popLast() {
                    results[index] = FrontRefusal(ProtocolRefusal(error))
                }
            }
            return results
        } catch {
            throw FrontRefusal(error)
        }
    }

    /// EndTransaction's work: COMMIT or ROLLBACK from the producer or as the answer to a check.
    /// - Throws: the refusal EndTransaction would answer (INVALID_TRANSACTION_ID, ...).
    public func endTransactionChecked(_ request: Apache_Rocketmq_V2_EndTransactionRequest, clientId: String) async
        throws(FrontRefusal) -> Apache_Rocketmq_V2_Status
    {
        do throws(ProtocolRefusal) {
            let status = try await endTransaction(request, clientId: clientId)
            RefusalMetric.shared.count(status, rpc: "EndTransaction")
            return status
        } catch {
            RefusalMetric.shared.count(error.status, rpc: "EndTransaction")
            throw FrontRefusal(error)
        }
    }

    /// The topic's definition, or TOPIC_NOT_FOUND.
    public func topicChecked(_ name: String) async throws(FrontRefusal) -> TopicDefinition {
        do throws(ProtocolRefusal) {
            try WireCheck.topicName(name)
            return try await existingTopic(name)
        } catch {
            throw FrontRefusal(error)
        }
    }

    /// The named consumer group (created on first use unless the broker forbids it).
    public func consumerGroupChecked(_ name: String) async throws(FrontRefusal) -> ConsumerGroup {
        do throws(ProtocolRefusal) {
            return try await consumerGroup(name, engine: try consumptionEngine())
        } catch {
            throw FrontRefusal(error)
        }
    }

    /// The largest body a message may carry (`Configuration.maxBodyBytes`).
    public var maxBodyBytes: Int { configuration.maxBodyBytes }
}
