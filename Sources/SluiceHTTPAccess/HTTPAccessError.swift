import HTTPTypes
import SluiceHTTPWire
import SluiceProtocol
import SluiceWire

/// A refused HTTP access request: the protocol's error code (the `Code` of its XML error body,
/// which the SDK raises as `MQServerException.type`), a message and the HTTP status.
struct HTTPAccessError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func invalid(_ message: String) -> HTTPAccessError { HTTPAccessError(.badRequest, "InvalidArgument", message) }

    /// The SDK learns "no message within the wait" from this 404 (its samples catch
    /// `MessageNotExist`).
    static func noMessage(_ topic: String) -> HTTPAccessError {
        HTTPAccessError(.notFound, "MessageNotExist", "no message in topic \(topic) within the wait")
    }

    init(_ error: HTTPWireError) {
        switch error.code {
        case .tooLarge: self.init(.contentTooLarge, "EntityTooLarge", error.message)
        case .malformed: self.init(.badRequest, "MalformedXML", error.message)
        default: self.init(.badRequest, "InvalidArgument", error.message)
        }
    }

    /// The protocol code and status for a refusal from the broker's messaging service.
    init(_ refusal: FrontRefusal) {
        switch refusal.code {
        case .topicNotFound: self.init(.notFound, "TopicNotExist", refusal.message)
        case .consumerGroupNotFound: self.init(.notFound, "ConsumerNotExist", refusal.message)
        case .messageBodyTooLarge, .messagePropertiesTooLarge: self.init(.contentTooLarge, "EntityTooLarge", refusal.message)
        case .invalidReceiptHandle, .invalidTransactionID: self.init(.badRequest, "ReceiptHandleError", refusal.message)
        case .tooManyRequests: self.init(.tooManyRequests, "Throttling", refusal.message)
        case .unauthorized: self.init(.unauthorized, "Unauthorized", refusal.message)
        case .forbidden: self.init(.forbidden, "AccessDenied", refusal.message)
        case .internalError: self.init(.serviceUnavailable, "ServiceUnavailable", refusal.message)
        default: self.init(.badRequest, "InvalidArgument", refusal.message)
        }
    }
}
