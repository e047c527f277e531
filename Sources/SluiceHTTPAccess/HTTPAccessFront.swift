import Crypto
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import SluiceBroker
import SluiceHTTPWire
import SluiceProtocol
import SluiceStorage

/// The HTTP front's request handling: each operation of the RocketMQ HTTP protocol mapped onto
/// the broker's `MessagingService`, so HTTP messages go through the same validation, log, queues,
/// consumer groups and transaction table as gRPC ones. The handlers are in the extensions
/// (`+Publish`, `+Consume`, `+Ack`, `+Transactions`).
struct HTTPAccessFront: Sendable {
    let service: MessagingService
    let access: AccessControl
    let mailbox: HTTPCheckMailbox
    let handle: BrokerHandle
    let limits: HTTPAccessLimits
    let logger: Logger
    let hostId: String
    let messageIds = MessageIDGenerator()

    /// The client id the messaging service sees for HTTP consumers (for its trace records).
    static let consumerClientId = "http"

    /// One request as the handlers see it.
    struct Call: Sendable {
        var requestId: String
        var topic: String
        var query: [String: String]

        func value(_ name: String) -> Substring? { query[name].map { $0[...] } }
    }

    /// Runs one operation: parses the common parts, checks the `ns` parameter, answers the
    /// protocol's XML error on any refusal, and counts the outcome.
    func run(
        _ operation: String, _ request: Request, _ context: some RequestContext,
        _ body: (Call) async throws(HTTPAccessError) -> Response
    ) async -> Response {
        let started = ContinuousClock.now
        let requestId = Self.newRequestId()
        var response: Response
        var code = "OK"
        do throws(HTTPAccessError) {
            let call = try Self.call(request, context, requestId: requestId)
            response = try await body(call)
        } catch {
            code = error.code
            if error.status == .internalServerError {
                logger.error("HTTP access request failed", metadata: ["http.operation": "\(operation)", "error": "\(error.message)"])
            }
            response = xmlResponse(error.status, ResponseBodies.error(
                code: error.code, message: error.message, requestId: requestId, hostId: hostId))
        }
        response.headers[Self.requestIdField] = requestId
        response.headers[Self.versionField] = "2015-06-06"
        HTTPAccessMetrics.shared.record(operation: operation, code: code, elapsed: ContinuousClock.now - started)
        return response
    }

    static let requestIdField = HTTPField.Name("x-mq-request-id")!
    static let versionField = HTTPField.Name("x-mq-version")!

    private static func call(_ request: Request, _ context: some RequestContext, requestId: String) throws(HTTPAccessError)
        -> Call
    {
        guard let topic = context.parameters.get("topic") else { throw .invalid("the path names no topic") }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters {
            // A repeated parameter keeps its first value; names outside the protocol are ignored.
            if query[String(name)] == nil { query[String(name)] = String(value) }
        }
        if let ns = query["ns"], ns.utf8.count > HTTPAccessLimits.maxInstanceIdBytes {
            throw .invalid("ns is \(ns.utf8.count) bytes; the limit is \(HTTPAccessLimits.maxInstanceIdBytes)")
        }
        return Call(requestId: requestId, topic: topic, query: query)
    }

    func xmlResponse(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/xml;charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// 24 hex digits, unique enough to find a request in the log.
    static func newRequestId() -> String {
        let value = UInt64.random(in: .min ... .max)
        let extra = UInt32.random(in: .min ... .max)
        return hex(value, digits: 16) + hex(UInt64(extra), digits: 8)
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The protocol's MessageBodyMD5: the body's MD5 as 32 uppercase hex digits.
    static func bodyMD5(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = Insecure.MD5()
        hasher.update(data: Array(bytes))
        return hasher.finalize().map { hex(UInt64($0), digits: 2) }.joined()
    }

    // MARK: authentication

    /// Authenticates the caller with the SDK's signature and checks `needs` against its rules,
    /// as the gRPC front does for its own signature. Nothing is checked with `--auth off`.
    func authorize(_ request: Request, call: Call, operation: String, _ needs: [AccessNeed]) async throws(HTTPAccessError) {
        guard access.isEnabled else { return }
        do throws(AccessDenial) {
            let user = try access.authenticateHTTP(try signature(of: request))
            try access.authorize(accessKey: user, needs)
        } catch {
            await access.record(error, call: "HTTP " + operation, client: Self.consumerClientId)
            throw HTTPAccessError(
                error.isAuthentication ? .unauthorized : .forbidden,
                error.isAuthentication ? Self.authenticationCode(error.reason) : "AccessDenied", error.message)
        }
    }

    private static func authenticationCode(_ reason: AccessDenial.Reason) -> String {
        switch reason {
        case .anonymous: "MissingAuthorization"
        case .unknownUser: "InvalidAccessKeyId"
        case .badSignature: "SignatureDoesNotMatch"
        case .clockSkew: "TimeExpired"
        case .notReady: "ServiceUnavailable"
        default: "InvalidAuthorization"
        }
    }

    /// The signature parts of the request; nil when it carries no Authorization header.
    private func signature(of request: Request) throws(AccessDenial) -> AccessControl.HTTPSignature? {
        // The SDK with no credentials signs as "MQ :…": anonymous, as an unsigned gRPC call is.
        guard let authorization = request.headers[.authorization], !authorization.hasPrefix("MQ :") else { return nil }
        let parsed: RequestSignature
        do throws(HTTPWireError) {
            parsed = try RequestSignature.parse(authorization: authorization)
        } catch {
            throw AccessDenial(.malformed, error.message)
        }
        let date = request.headers[.date] ?? ""
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let stringToSign = RequestSignature.stringToSign(
            method: request.method.rawValue, contentMD5: request.headers[HTTPField.Name("content-md5")!] ?? "",
            contentType: request.headers[.contentType] ?? "", date: date, headers: headers,
            resource: request.head.path ?? "")
        return AccessControl.HTTPSignature(
            accessKey: parsed.accessId, signature: parsed.signature, stringToSign: stringToSign,
            dateSeconds: HTTPDate.epochSeconds(date))
    }

    /// The request body, at most `limit` bytes.
    func body(_ request: Request, limit: Int) async throws(HTTPAccessError) -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw HTTPAccessError(.contentTooLarge, "EntityTooLarge", "the request body is over \(limit) bytes")
        }
    }
}
