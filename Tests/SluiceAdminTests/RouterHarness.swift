import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Synchronization

/// Drives a `Router` in memory, without a socket: builds the request and context, runs the
/// responder, turns a thrown `HTTPResponseError` into its response (as the server would) and
/// collects the body.
struct RouterHarness {
    struct Reply {
        var status: HTTPResponse.Status
        var contentType: String?
        var body: ByteBuffer
        var headers = HTTPFields()

        var text: String { String(buffer: body) }
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        }
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
    }

    let responder: RouterResponder<BasicRequestContext>

    init(_ router: Router<BasicRequestContext>) {
        responder = router.buildResponder()
    }

    func send(
        _ method: HTTPRequest.Method, _ path: String, body: String? = nil, headers: [String: String] = [:]
    ) async throws -> Reply {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "127.0.0.1", path: path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(string: body ?? "")))
        let context = BasicRequestContext(
            source: ApplicationRequestContextSource(channel: NIOAsyncTestingChannel(), logger: Logger(label: "test")))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        let collector = BodyCollector()
        try await response.body.write(collector)
        return Reply(
            status: response.status, contentType: response.headers[.contentType], body: collector.buffer,
            headers: response.headers)
    }

    private final class BodyCollector: ResponseBodyWriter, Sendable {
        private let collected = Mutex(ByteBuffer())

        var buffer: ByteBuffer { collected.withLock { $0 } }

        func write(_ buffer: ByteBuffer) async throws {
            collected.withLock { _ = $0.writeImmutableBuffer(buffer) }
        }

        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
