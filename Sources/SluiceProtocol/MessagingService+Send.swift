import CSluiceShims
import Foundation
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceWire
import SwiftProtobuf
import NIOConcurrencyHelpers

extension MessagingService {
    /// The furthest ahead a DELAY message may be scheduled.
    static let maxDelay: Int64 = 40 * 24 * 3600 * 1000

    /// Validates one message, stores it (a half message for TRANSACTION) and returns its entry.
    func send(_ request: Apache_Rocketmq_V2_SendMessageRequest, clientId: String) async throws(ProtocolRefusal)
        -> Apache_Rocketmq_V2_SendResultEntry
    {
        guard request.messages.count == 1 else {
            throw ProtocolRefusal(.badRequest, "send exactly one message per request; got \(request.messages.count)")
        }
        let wire = request.messages[0]
        if ConsumerGroup.groupOfDeadLetterTopic(wire.topic.name) != nil {
            throw ProtocolRefusal(.forbidden, "dead-letter topic \(wire.topic.name) is read-only")
        }
        let topic = try await existingTopic(wire.topic.name)
        let system = wire.systemProperties
        var record = try validatedRecord(wire, topic: topic)
        prepareForTrace(&record, clientId: clientId)
        guard let coordinator = handle.coordinator else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        var entry = Apache_Rocketmq_V2_SendResultEntry()
        entry.status = .ok
        if system.messageType == .transaction {
            if clientId.isEmpty {
                throw ProtocolRefusal(.clientIDRequired, "a transactional message needs the x-mq-client-id header")
            }
            let delay = system.hasOrphanedTransactionRecoveryDuration
                ? WireMessage.milliseconds(system.orphanedTransactionRecoveryDuration) : nil
            do throws(BrokerError) {
                let prepared = try await coordinator.prepare(
                    HalfMessage(message: record, producerGroup: "", clientId: clientId, firstCheckDelayMs: delay))
                sessions.noteSent(clientId: clientId, topic: topic.name)
                entry.messageID = prepared.messageId
                entry.transactionID = prepared.transactionId
                entry.offset = Int64(prepared.commitLogOffset)
            } catch {
                throw ProtocolRefusal(error)
            }
        } else {
            do throws(StorageError) {
                let appended = try await coordinator.log.append(record)
                entry.messageID = appended.messageId
                entry.offset = Int64(appended.queueOffset)
            } catch {
                throw ProtocolRefusal(
                    error.code == .invalidArgument || error.code == .recordTooLarge ? .badRequest : .internalError,
                    "cannot store the message: \(error.message)")
            }
        }
        MessagesInMetric.shared.increment(topic: topic.name, type: topic.messageType)
        return entry
    }

    /// Checks a message against its topic and the limits, and builds the record to store.
    func validatedRecord(_ wire: Apache_Rocketmq_V2_Message, topic: TopicDefinition) throws(ProtocolRefusal)
        -> MessageRecord
    {
        let system = wire.systemProperties
        if wire.body.isEmpty { throw ProtocolRefusal(.messageBodyEmpty, "the message body is empty") }
        if wire.body.count > configuration.maxBodyBytes {
            throw ProtocolRefusal(
                .messageBodyTooLarge,
                "body is \(wire.body.count) bytes; the limit is \(configuration.maxBodyBytes) bytes")
        }
        guard let kind = RecordKind(system.messageType) else {
            throw ProtocolRefusal(.badRequest, "message type \(system.messageType) is not supported")
        }
        if kind.wireType != topic.messageType.wireType {
            throw ProtocolRefusal(
                .messagePropertyConflictWithType,
                "topic \(topic.name) takes \(topic.messageType.rawValue) messages; this one is \(system.messageType)")
        }
        if system.hasTag && (system.tag.isEmpty || system.tag.contains("|")) {
            throw ProtocolRefusal(.illegalMessageTag, "tag '\(system.tag)' must be non-empty and must not contain '|'")
        }
        for key in system.keys where key.isEmpty {
            throw ProtocolRefusal(.illegalMessageKey, "message keys must not be empty")
        }
        for name in wire.userProperties.keys where name.isEmpty || name.hasPrefix("SLUICE_") {
            throw ProtocolRefusal(.illegalMessagePropertyKey, "property name '\(name)' is empty or reserved (SLUICE_ prefix)")
        }
        var properties = wire.userProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if !system.bornHost.isEmpty { properties.append((WireProperty.bornHost, system.bornHost)) }
        let queueId: UInt32
        switch kind {
        case .fifo:
            guard system.hasMessageGroup, !system.messageGroup.isEmpty else {
                throw ProtocolRefusal(.illegalMessageGroup, "a FIFO message needs a message group")
            }
            properties.append((WireProperty.messageGroup, system.messageGroup))
            // Same group, same queue: order within a group is kept by the queue.
            var group = system.messageGroup
            let hash = group.withUTF8 { sluice_crc32c(0, $0.baseAddress, $0.count) }
            queueId = hash % UInt32(topic.queueCount)
        case .delay:
            guard system.hasDeliveryTimestamp else {
                throw ProtocolRefusal(.illegalDeliveryTime, "a DELAY message needs a delivery timestamp")
            }
            var deliveryMs = WireMessage.milliseconds(system.deliveryTimestamp)
            // The client's own docs say milliseconds, so users put them in `seconds`.
            if system.deliveryTimestamp.seconds > 100_000_000_000 { deliveryMs = system.deliveryTimestamp.seconds }
            let now = WallClock.nowMs()
            if deliveryMs - now > Self.maxDelay {
                throw ProtocolRefusal(
                    .illegalDeliveryTime, "delivery time is more than 40 days ahead (\(deliveryMs) ms since the epoch)")
            }
            properties.append((WireProperty.deliveryTimestampMs, "\(deliveryMs)"))
            queueId = nextQueue(topic)
        default:
            queueId = nextQueue(topic)
        }
        return MessageRecord(
            topic: topic.name, queueId: queueId, messageId: system.messageID, tags: system.hasTag ? system.tag : "",
            keys: system.keys, properties: properties, body: ByteBuffer(bytes: wire.body),
            bornTimestampMs: system.hasBornTimestamp ? WireMessage.milliseconds(system.bornTimestamp) : WallClock.nowMs(),
            messageType: kind.rawValue)
    }

    /// The broker chooses the queue (clients do not send one): round-robin.
    func nextQueue(_ topic: TopicDefinition) -> UInt32 {
        queueCursor.withLockedValue { cursor in
            cursor &+= 1
            return cursor % UInt32(topic.queueCount)
        }
    }
}
