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
        try WireCheck.clientId(clientId)
        try WireCheck.topicName(wire.topic.name)
        if ConsumerGroup.groupOfDeadLetterTopic(wire.topic.name) != nil {
            throw ProtocolRefusal(.forbidden, "dead-letter topic \(wire.topic.name) is read-only")
        }
        let topic = try await existingTopic(wire.topic.name)
        let system = wire.systemProperties
        var record = try validatedRecord(wire, topic: topic)
        if let routed = configuration.queueRoutes?.routed(topic.name) {
            record.queueId = try routedQueue(wire.systemProperties, topic: topic, routed: routed)
        }
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
            let delay = try Self.orphanedRecoveryMs(system)
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
                // A DELAY message can be recalled before its delivery time with this handle.
                if RecordKind(rawValue: record.messageType) == .delay, let engine = handle.consumption,
                    let deliveryMs = record.properties.first(where: { $0.0 == WireProperty.deliveryTimestampMs })
                        .flatMap({ Int64($0.1) })
                {
                    entry.recallHandle = engine.recallHandle(
                        topic: topic.name, appended: appended, queueId: record.queueId, deliveryMs: deliveryMs)
                }
            } catch {
                if let refusal = ProtocolRefusal.replicationRefusal(error) { throw refusal }
                throw ProtocolRefusal(
                    error.code == .invalidArgument || error.code == .recordTooLarge ? .badRequest : .internalError,
                    "cannot store the message: \(error.message)")
            }
        }
        MessagesInMetric.shared.increment(topic: topic.name, type: topic.messageType)
        return entry
    }

    /// The producer's own first-check delay: 0 to 24 h, or nil for the broker's default.
    static func orphanedRecoveryMs(_ system: Apache_Rocketmq_V2_SystemProperties) throws(ProtocolRefusal) -> Int64? {
        guard system.hasOrphanedTransactionRecoveryDuration else { return nil }
        let field = "orphaned_transaction_recovery_duration"
        let ms = try WireTime.milliseconds(system.orphanedTransactionRecoveryDuration, field: field, code: .badRequest)
        guard (0...WireLimits.orphanedRecoveryMs).contains(ms) else {
            throw ProtocolRefusal(.badRequest, "\(field) is \(ms) ms; it must be 0 to 24 h")
        }
        return ms
    }

    /// Checks a message against its topic and the limits, and builds the record to store.
    ///
    /// Every field a client sets is checked here, before any arithmetic or storage sees it:
    /// body (MESSAGE_BODY_EMPTY, MESSAGE_BODY_TOO_LARGE), type (BAD_REQUEST,
    /// MESSAGE_PROPERTY_CONFLICT_WITH_TYPE), tag (ILLEGAL_MESSAGE_TAG), keys (ILLEGAL_MESSAGE_KEY),
    /// message id (ILLEGAL_MESSAGE_ID), user properties (ILLEGAL_MESSAGE_PROPERTY_KEY,
    /// MESSAGE_PROPERTIES_TOO_LARGE), message group (ILLEGAL_MESSAGE_GROUP), priority (BAD_REQUEST), lite topic (ILLEGAL_LITE_TOPIC), delivery time
    /// (ILLEGAL_DELIVERY_TIME), born time and host (BAD_REQUEST).
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
        if system.hasTag {
            try WireCheck.text(system.tag, atMost: WireLimits.tagBytes, field: "tag", code: .illegalMessageTag)
            if system.tag.contains("|") || system.tag.allSatisfy(\.isWhitespace) {
                throw ProtocolRefusal(
                    .illegalMessageTag, "tag \(WireCheck.shown(system.tag)) must not be blank or contain '|'")
            }
        }
        if system.keys.count > WireLimits.keyCount {
            throw ProtocolRefusal(
                .illegalMessageKey, "the message has \(system.keys.count) keys; the limit is \(WireLimits.keyCount)")
        }
        for key in system.keys {
            try WireCheck.text(key, atMost: WireLimits.keyBytes, field: "message key", code: .illegalMessageKey)
        }
        try WireCheck.messageId(system.messageID)
        try validateUserProperties(wire.userProperties)
        var properties = wire.userProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if !system.bornHost.isEmpty {
            try WireCheck.text(system.bornHost, atMost: WireLimits.bornHostBytes, field: "born_host", code: .badRequest)
            properties.append((WireProperty.bornHost, system.bornHost))
        }
        let bornMs = try system.hasBornTimestamp
            ? WireTime.milliseconds(system.bornTimestamp, field: "born_timestamp", code: .badRequest)
            : WallClock.nowMs()
        if kind != .lite, system.hasLiteTopic {
            throw ProtocolRefusal(
                .messagePropertyConflictWithType, "lite_topic is set on a \(system.messageType) message; only LITE messages carry one")
        }
        let queueId: UInt32
        switch kind {
        case .fifo:
            guard system.hasMessageGroup, !system.messageGroup.isEmpty else {
                throw ProtocolRefusal(.illegalMessageGroup, "a FIFO message needs a message group")
            }
            try WireCheck.text(
                system.messageGroup, atMost: WireLimits.messageGroupBytes, field: "message_group",
                code: .illegalMessageGroup)
            properties.append((WireProperty.messageGroup, system.messageGroup))
            // Same group, same queue: order within a group is kept by the queue.
            var group = system.messageGroup
            let hash = group.withUTF8 { sluice_crc32c(0, $0.baseAddress, $0.count) }
            queueId = hash % UInt32(max(1, topic.queueCount))
        case .priority:
            properties.append((WireProperty.priority, "\(try Self.priority(system))"))
            queueId = nextQueue(topic)
        case .lite:
            guard system.hasLiteTopic else {
                throw ProtocolRefusal(.illegalLiteTopic, "a LITE message needs a lite_topic")
            }
            try WireCheck.liteTopic(system.liteTopic)
            properties.append((WireProperty.liteTopic, system.liteTopic))
            // One lite topic, one queue: its messages keep their order, like a FIFO group's.
            var name = system.liteTopic
            let hash = name.withUTF8 { sluice_crc32c(0, $0.baseAddress, $0.count) }
            queueId = hash % UInt32(max(1, topic.queueCount))
        case .delay:
            let deliveryMs = try Self.deliveryMs(system)
            properties.append((WireProperty.deliveryTimestampMs, "\(deliveryMs)"))
            queueId = nextQueue(topic)
        default:
            queueId = nextQueue(topic)
        }
        return MessageRecord(
            topic: topic.name, queueId: queueId, messageId: system.messageID, tags: system.hasTag ? system.tag : "",
            keys: system.keys, properties: properties, body: ByteBuffer(bytes: wire.body),
            bornTimestampMs: bornMs, messageType: kind.rawValue)
    }

    /// A PRIORITY message's priority: present and within `MessageProperty.priorityRange` (0 to 9;
    /// the official clients refuse negative values themselves and set no upper bound).
    static func priority(_ system: Apache_Rocketmq_V2_SystemProperties) throws(ProtocolRefusal) -> Int32 {
        let range = WireProperty.priorityRange
        guard system.hasPriority else {
            throw ProtocolRefusal(
                .badRequest, "a PRIORITY message needs a priority (\(range.lowerBound) to \(range.upperBound))")
        }
        guard range.contains(system.priority) else {
            throw ProtocolRefusal(
                .badRequest,
                "priority is \(system.priority); it must be \(range.lowerBound) to \(range.upperBound) (higher is delivered first)")
        }
        return system.priority
    }

    /// A DELAY message's delivery time in milliseconds since the epoch: not negative, at most 40
    /// days ahead.
    static func deliveryMs(_ system: Apache_Rocketmq_V2_SystemProperties) throws(ProtocolRefusal) -> Int64 {
        guard system.hasDeliveryTimestamp else {
            throw ProtocolRefusal(.illegalDeliveryTime, "a DELAY message needs a delivery timestamp")
        }
        let stamp = system.deliveryTimestamp
        let deliveryMs: Int64
        // The client's own docs say milliseconds, so users put them in `seconds`: a `seconds`
        // past the year 5138 is read as milliseconds.
        if stamp.seconds > 100_000_000_000 {
            guard (0..<1_000_000_000).contains(stamp.nanos) else {
                throw ProtocolRefusal(.illegalDeliveryTime, "delivery_timestamp.nanos is \(stamp.nanos); it must be 0 to 999999999")
            }
            deliveryMs = stamp.seconds
        } else {
            deliveryMs = try WireTime.milliseconds(stamp, field: "delivery_timestamp", code: .illegalDeliveryTime)
        }
        if deliveryMs < 0 {
            throw ProtocolRefusal(.illegalDeliveryTime, "delivery_timestamp is \(deliveryMs) ms, before 1970")
        }
        // Both sides are non-negative: the subtraction cannot overflow.
        if deliveryMs - WallClock.nowMs() > Self.maxDelay {
            throw ProtocolRefusal(
                .illegalDeliveryTime, "delivery time is more than 40 days ahead (\(deliveryMs) ms since the epoch)")
        }
        return deliveryMs
    }

    /// User properties: at most 128, 16 KiB of names and values together, names non-empty,
    /// without control characters and not the broker's `SLUICE_` prefix.
    func validateUserProperties(_ properties: [String: String]) throws(ProtocolRefusal) {
        if properties.count > WireLimits.propertyCount {
            throw ProtocolRefusal(
                .messagePropertiesTooLarge,
                "the message has \(properties.count) user properties; the limit is \(WireLimits.propertyCount)")
        }
        var total = 0
        for (name, value) in properties {
            try WireCheck.text(
                name, atMost: WireLimits.propertyNameBytes, field: "user property name", code: .illegalMessagePropertyKey)
            if name.hasPrefix("SLUICE_") {
                throw ProtocolRefusal(
                    .illegalMessagePropertyKey, "user property name \(WireCheck.shown(name)) uses the reserved SLUICE_ prefix")
            }
            total += name.utf8.count + value.utf8.count
        }
        if total > WireLimits.propertyTotalBytes {
            throw ProtocolRefusal(
                .messagePropertiesTooLarge,
                "user properties are \(total) bytes; the limit is \(WireLimits.propertyTotalBytes) bytes")
        }
    }

    /// The broker chooses the queue (clients do not send one): round-robin.
    func nextQueue(_ topic: TopicDefinition) -> UInt32 {
        queueCursor.withLockedValue { cursor in
            cursor &+= 1
            return cursor % UInt32(max(1, topic.queueCount))
        }
    }
}
