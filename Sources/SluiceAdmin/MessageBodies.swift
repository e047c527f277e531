import Foundation
import NIOCore
import SluiceBroker
import SluiceStorage

/// The JSON shapes of `/v1/messages`. Optional fields are written as `null`, never left out.
enum MessageBodies {
    /// The most body bytes shown in `bodyPreview`.
    static let previewBytes = 512

    /// One stored record of a message. A transactional message has several: the half message
    /// (`role` `half`, in the transaction event queue), the copy consumers read once committed
    /// (`commit`, in its topic) or the rollback marker (`rollback`).
    struct Message: Encodable {
        var messageId: String
        /// `message` (an ordinary send), `half`, `commit` or `rollback`.
        var role: String
        var topic: String
        var queueId: UInt32
        var queueOffset: UInt64
        var physicalOffset: UInt64
        /// Bytes the record takes in the log, header included.
        var size: Int
        /// normal, fifo, delay, transaction or priority; null when unknown.
        var type: String?
        var storedAt: String
        var bornAt: String
        var tags: String?
        var keys: [String]
        /// The producer's own properties.
        var properties: [String: String]
        /// What the broker keeps with the record (`SLUICE_...`: born host, message group,
        /// transaction id, target topic of a half message, ...).
        var systemProperties: [String: String]
        var bodySize: Int
        var bodyPreview: Preview
        /// The transaction the record belongs to (from the transaction table), or null.
        var transaction: TransactionBodies.Transaction?

        init(_ record: StoredRecord, transaction: TransactionBodies.Transaction?) {
            let message = record.message
            messageId = record.messageId
            role = Self.role(of: message)
            topic = record.topic
            queueId = record.queueId
            queueOffset = record.queueOffset
            physicalOffset = record.physicalOffset
            size = record.size
            type = Self.typeName(message.messageType)
            storedAt = TransactionBodies.timestamp(record.storeTimestampMs)
            bornAt = TransactionBodies.timestamp(message.bornTimestampMs)
            tags = message.tags.isEmpty ? nil : message.tags
            keys = message.keys
            var user: [String: String] = [:]
            var system: [String: String] = [:]
            for (name, value) in message.properties {
                if name.hasPrefix(TransactionEvent.Property.prefix) { system[name] = value } else { user[name] = value }
            }
            properties = user
            systemProperties = system
            bodySize = record.body.readableBytes
            bodyPreview = Preview(record.body)
            self.transaction = transaction
        }

        static func role(of message: MessageRecord) -> String {
            if message.flags & RecordFlag.half != 0 { return "half" }
            if message.flags & RecordFlag.committed != 0 { return "commit" }
            if message.messageType == RecordKind.transactionRollback.rawValue { return "rollback" }
            return "message"
        }

        static func typeName(_ kind: UInt8) -> String? {
            switch RecordKind(rawValue: kind) {
            case .normal: "normal"
            case .fifo: "fifo"
            case .delay: "delay"
            case .transaction, .transactionRollback: "transaction"
            case .priority: "priority"
            case .lite: "lite"
            case nil: nil
            }
        }

        enum CodingKeys: String, CodingKey {
            case messageId, role, topic, queueId, queueOffset, physicalOffset, size, type, storedAt, bornAt, tags
            case keys, properties, systemProperties, bodySize, bodyPreview, transaction
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(messageId, forKey: .messageId)
            try container.encode(role, forKey: .role)
            try container.encode(topic, forKey: .topic)
            try container.encode(queueId, forKey: .queueId)
            try container.encode(queueOffset, forKey: .queueOffset)
            try container.encode(physicalOffset, forKey: .physicalOffset)
            try container.encode(size, forKey: .size)
            try container.encode(type, forKey: .type)
            try container.encode(storedAt, forKey: .storedAt)
            try container.encode(bornAt, forKey: .bornAt)
            try container.encode(tags, forKey: .tags)
            try container.encode(keys, forKey: .keys)
            try container.encode(properties, forKey: .properties)
            try container.encode(systemProperties, forKey: .systemProperties)
            try container.encode(bodySize, forKey: .bodySize)
            try container.encode(bodyPreview, forKey: .bodyPreview)
            try container.encode(transaction, forKey: .transaction)
        }
    }

    /// The start of a body: as text when it is UTF-8, else base64.
    struct Preview: Encodable {
        /// `utf8` or `base64`.
        var encoding: String
        var text: String
        /// True when the body is longer than the preview.
        var truncated: Bool

        init(_ body: ByteBuffer) {
            let bytes = Array(body.readableBytesView.prefix(MessageBodies.previewBytes))
            truncated = body.readableBytes > bytes.count
            if let text = Self.utf8(bytes, cut: truncated) {
                encoding = "utf8"
                self.text = text
            } else {
                encoding = "base64"
                text = Data(bytes).base64EncodedString()
            }
        }

        /// The bytes as text when they are UTF-8 without control characters other than tab and
        /// line breaks. A preview cut inside a character drops that character's first bytes.
        private static func utf8(_ bytes: [UInt8], cut: Bool) -> String? {
            var end = bytes.count
            var text = String(validating: bytes[..<end], as: UTF8.self)
            while text == nil, cut, end > 0, bytes.count - end < 3 {
                end -= 1
                text = String(validating: bytes[..<end], as: UTF8.self)
            }
            guard let text else { return nil }
            let printable = text.unicodeScalars.allSatisfy { scalar in
                scalar == "\t" || scalar == "\n" || scalar == "\r" || !(scalar.value < 0x20 || scalar.value == 0x7F)
            }
            return printable ? text : nil
        }
    }

    /// `GET /v1/messages/{messageId}`: every stored record with that id, oldest first.
    struct ByID: Encodable {
        var messageId: String
        var messages: [Message]
    }

    /// `GET /v1/messages?key=K`: the records carrying the key, oldest first.
    struct ByKey: Encodable {
        var key: String
        var messages: [Message]
    }

    /// `GET /v1/messages/{messageId}/trace`.
    struct Trace: Encodable {
        var messageId: String
        /// Whether this broker records trace events now (`--trace`).
        var tracing: Bool
        var events: [Event]
    }

    /// One trace event: what happened, when, and its details (all strings).
    struct Event: Encodable {
        var event: String
        var at: String
        var details: [String: String]

        init(_ event: MessageTraceEvent) {
            self.event = event.kind.rawValue
            at = TransactionBodies.timestamp(event.atMs)
            details = event.details
        }
    }
}
