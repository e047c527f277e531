import CSluiceShims
import Foundation
import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceWire
import SwiftProtobuf

/// Property names the gRPC front keeps in records for fields RocketMQ carries in system
/// properties (the broker-owned `SLUICE_` prefix keeps them out of user properties).
typealias WireProperty = MessageProperty

extension RecordKind {
    init?(_ type: Apache_Rocketmq_V2_MessageType) {
        switch type {
        case .normal: self = .normal
        case .fifo: self = .fifo
        case .delay: self = .delay
        case .transaction: self = .transaction
        case .priority: self = .priority
        case .lite: self = .lite
        default: return nil
        }
    }

    var wireType: Apache_Rocketmq_V2_MessageType {
        switch self {
        case .normal: .normal
        case .fifo: .fifo
        case .delay: .delay
        case .transaction, .transactionRollback: .transaction
        case .priority: .priority
        case .lite: .lite
        }
    }
}

extension TopicMessageType {
    var wireType: Apache_Rocketmq_V2_MessageType {
        switch self {
        case .normal: .normal
        case .fifo: .fifo
        case .delay: .delay
        case .transaction: .transaction
        case .priority: .priority
        case .lite: .lite
        }
    }
}

enum WireMessage {
    /// A stored record as RocketMQ clients expect a message: identity encoding and an uppercase
    /// CRC-32 body digest (the Python client drops messages without a valid encoding).
    /// `delivery` sets the fields of a delivered message (receipt handle, attempt, invisible
    /// time) before the system properties go into the message: setting them afterwards copies
    /// the whole system-properties storage (protobuf's copy-on-write), once per delivery.
    static func message(
        from record: StoredRecord, topic: String, delivery: (inout Apache_Rocketmq_V2_SystemProperties) -> Void = { _ in }
    ) -> Apache_Rocketmq_V2_Message {
        var message = Apache_Rocketmq_V2_Message()
        message.topic.name = topic
        for (name, value) in record.userProperties { message.userProperties[name] = value }
        let body = Data(record.body.readableBytesView)
        message.body = body
        var system = Apache_Rocketmq_V2_SystemProperties()
        if !record.message.tags.isEmpty { system.tag = record.message.tags }
        system.keys = record.message.keys
        system.messageID = record.messageId
        system.bodyDigest.type = .crc32
        system.bodyDigest.checksum = crc32Hex(body)
        system.bodyEncoding = .identity
        system.messageType = RecordKind(rawValue: record.message.messageType)?.wireType ?? .normal
        system.bornTimestamp = timestamp(ms: record.message.bornTimestampMs)
        system.bornHost = record.property(WireProperty.bornHost) ?? ""
        system.storeTimestamp = timestamp(ms: record.storeTimestampMs)
        system.storeHost = "sluice"
        system.queueID = Int32(truncatingIfNeeded: record.queueId)
        system.queueOffset = Int64(clamping: record.queueOffset)
        if let group = record.property(WireProperty.messageGroup) { system.messageGroup = group }
        if let delivery = record.property(WireProperty.deliveryTimestampMs).flatMap(Int64.init) {
            system.deliveryTimestamp = timestamp(ms: delivery)
        }
        if let priority = record.property(WireProperty.priority).flatMap(Int32.init) { system.priority = priority }
        if let liteTopic = record.property(WireProperty.liteTopic) { system.liteTopic = liteTopic }
        delivery(&system)
        message.systemProperties = system
        return message
    }

    static func crc32Hex(_ data: Data) -> String {
        let crc = data.withUnsafeBytes { sluice_crc32_ieee(0, $0.baseAddress, $0.count) }
        let digits = String(crc, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func timestamp(ms: Int64) -> Google_Protobuf_Timestamp { WireTime.timestamp(ms: ms) }
}
