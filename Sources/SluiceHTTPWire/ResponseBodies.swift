/// The response documents the SDK reads (`mq_xml_handler.py` in mq-http-sdk 1.0.3).
public enum ResponseBodies {
    /// A publish's answer: `<Message><MessageId/><MessageBodyMD5/>[<ReceiptHandle/>]</Message>`.
    /// The handle is there only for a transactional message (the producer commits with it).
    public static func published(messageId: String, bodyMD5: String, receiptHandle: String?) -> [UInt8] {
        var writer = XMLWriter()
        writer.openRoot("Message")
        writer.leaf("MessageId", messageId)
        writer.leaf("MessageBodyMD5", bodyMD5)
        if let receiptHandle { writer.leaf("ReceiptHandle", receiptHandle) }
        writer.close("Message")
        return writer.bytes
    }

    /// One message of a consume's answer.
    public struct ConsumedMessage: Sendable, Equatable {
        public var messageId: String
        public var receiptHandle: String
        public var bodyMD5: String
        public var body: String
        public var publishTimeMs: Int64
        public var firstConsumeTimeMs: Int64
        public var nextConsumeTimeMs: Int64
        public var consumedTimes: Int
        public var tag: String?
        /// Already formatted (`MessageProperties.format`); empty leaves the element out.
        public var properties: String

        public init(
            messageId: String, receiptHandle: String, bodyMD5: String, body: String, publishTimeMs: Int64,
            firstConsumeTimeMs: Int64, nextConsumeTimeMs: Int64, consumedTimes: Int, tag: String?, properties: String
        ) {
            self.messageId = messageId
            self.receiptHandle = receiptHandle
            self.bodyMD5 = bodyMD5
            self.body = body
            self.publishTimeMs = publishTimeMs
            self.firstConsumeTimeMs = firstConsumeTimeMs
            self.nextConsumeTimeMs = nextConsumeTimeMs
            self.consumedTimes = consumedTimes
            self.tag = tag
            self.properties = properties
        }
    }

    /// `<Messages><Message>…</Message>…</Messages>`.
    public static func messages(_ messages: [ConsumedMessage]) -> [UInt8] {
        var writer = XMLWriter(reservingCapacity: 256 + messages.reduce(0) { $0 + $1.body.utf8.count + 512 })
        writer.openRoot("Messages")
        for message in messages {
            writer.open("Message")
            writer.leaf("MessageId", message.messageId)
            writer.leaf("ReceiptHandle", message.receiptHandle)
            writer.leaf("MessageBodyMD5", message.bodyMD5)
            writer.leaf("MessageBody", message.body)
            writer.leaf("PublishTime", "\(message.publishTimeMs)")
            writer.leaf("FirstConsumeTime", "\(message.firstConsumeTimeMs)")
            writer.leaf("NextConsumeTime", "\(message.nextConsumeTimeMs)")
            writer.leaf("ConsumedTimes", "\(message.consumedTimes)")
            if let tag = message.tag, !tag.isEmpty { writer.leaf("MessageTag", tag) }
            if !message.properties.isEmpty { writer.leaf("Properties", message.properties) }
            writer.close("Message")
        }
        writer.close("Messages")
        return writer.bytes
    }

    /// The protocol's error document: `<Error><Code/><Message/><RequestId/><HostId/></Error>`.
    public static func error(code: String, message: String, requestId: String, hostId: String) -> [UInt8] {
        var writer = XMLWriter()
        writer.openRoot("Error")
        writer.leaf("Code", code)
        writer.leaf("Message", message)
        writer.leaf("RequestId", requestId)
        writer.leaf("HostId", hostId)
        writer.close("Error")
        return writer.bytes
    }

    /// One failed handle of an ack.
    public struct HandleError: Sendable, Equatable {
        public var code: String
        public var message: String
        public var receiptHandle: String

        public init(code: String, message: String, receiptHandle: String) {
            self.code = code
            self.message = message
            self.receiptHandle = receiptHandle
        }
    }

    /// An ack's partial failure: `<Errors><Error><ErrorCode/><ErrorMessage/><ReceiptHandle/></Error>…`.
    /// The SDK checks that each entry has exactly these three children.
    public static func handleErrors(_ errors: [HandleError]) -> [UInt8] {
        var writer = XMLWriter()
        writer.openRoot("Errors")
        for error in errors {
            writer.open("Error")
            writer.leaf("ErrorCode", error.code)
            writer.leaf("ErrorMessage", error.message)
            writer.leaf("ReceiptHandle", error.receiptHandle)
            writer.close("Error")
        }
        writer.close("Errors")
        return writer.bytes
    }
}
