/// A publish request's `<Message>` document.
public struct PublishRequestBody: Sendable, Equatable {
    public var body: String
    public var tag: String?
    /// The raw `Properties` text (see `MessageProperties`).
    public var properties: String

    /// Limits for a publish document: one root with three leaves, the body bounded by the caller.
    public static func limits(maxBodyBytes: Int) -> XMLLimits {
        XMLLimits(maxDepth: 2, maxElements: 8, maxTextBytes: maxBodyBytes)
    }

    /// - Throws: `HTTPWireError`: malformed XML, a root other than `Message`, no `MessageBody`.
    public static func parse(_ bytes: some Collection<UInt8>, maxBodyBytes: Int) throws(HTTPWireError) -> PublishRequestBody {
        let root = try XMLReader.parse(bytes, limits: limits(maxBodyBytes: maxBodyBytes))
        guard root.name == "Message" else {
            throw HTTPWireError(.unexpected, "the root element is <\(root.name)>; expected <Message>")
        }
        guard let body = root.child("MessageBody") else {
            throw HTTPWireError(.unexpected, "<Message> has no <MessageBody>")
        }
        return PublishRequestBody(
            body: body.text, tag: root.child("MessageTag")?.text, properties: root.child("Properties")?.text ?? "")
    }

    public init(body: String, tag: String?, properties: String) {
        self.body = body
        self.tag = tag
        self.properties = properties
    }
}

/// An ack's (or a transaction end's) `<ReceiptHandles>` document.
public enum ReceiptHandlesBody {
    /// Most handles one request may carry (the protocol's batch limit).
    public static let maxHandles = 16
    /// Longest handle accepted (Sluice's handles are far shorter).
    public static let maxHandleBytes = 1024

    /// - Throws: `HTTPWireError`: malformed XML, another root, no handles, or past the limits.
    public static func parse(_ bytes: some Collection<UInt8>) throws(HTTPWireError) -> [String] {
        let root = try XMLReader.parse(
            bytes, limits: XMLLimits(maxDepth: 2, maxElements: maxHandles + 1, maxTextBytes: maxHandleBytes))
        guard root.name == "ReceiptHandles" else {
            throw HTTPWireError(.unexpected, "the root element is <\(root.name)>; expected <ReceiptHandles>")
        }
        let handles = root.children.filter { $0.name == "ReceiptHandle" }.map(\.text)
        guard !handles.isEmpty else { throw HTTPWireError(.unexpected, "<ReceiptHandles> holds no <ReceiptHandle>") }
        return handles
    }
}
